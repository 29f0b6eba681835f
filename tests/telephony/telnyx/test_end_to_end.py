"""A Telnyx call end to end: POST /calls → the Telnyx adapter dials the emulator → signed
Ed25519 webhooks and a real media WebSocket, played here as Telnyx plays them → a completed
call with a speech-to-text transcript and a two-voice recording. Also status outcomes,
forged webhooks, provider errors and inbound calls answered through the REST API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
import websockets

from tests.conftest import API
from tests.emulators.telnyx import API_KEY, CONNECTION_ID, Injected, TelnyxEmulator
from tests.factories import Tenant, app_for, insert_agent
from tests.telephony.greeting import count_speech
from tests.telephony.placement import refused_call, wait_dialed
from tests.voice.speech import channel_levels, misheard
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database
from voxline.telephony.telnyx.webhooks import STREAM_TOKEN_HEADER
from voxline.voice.audio import pcm16_to_mulaw, resample
from voxline.voice.kit import VoiceKit

NUMBER = "+14155552671"
CALLEE = "+14155550123"
CALLER = "+14155559876"
CALLEE_LINE = "Yes, speaking. What is this about?"
# The words of CALLEE_LINE that carry its meaning, and its word error rate bound: through the
# phone line Whisper hears "Yes, speaking, what is this amount?" (WER 0.17) on each of
# CTranslate2's kernel families; the bound allows a second word lost on another processor.
CALLEE_KEYWORDS = ("yes", "speaking")
CALLEE_WER_AT_MOST = 0.35
# A line the callee did not say, which the transcript must not pass for.
OTHER_LINE, OTHER_KEYWORDS = "Please leave a message after the beep.", ("message", "beep")


@dataclass
class Deployment:
    base_url: str
    http: httpx.AsyncClient
    tenant: Tenant
    agent_id: str
    emulator: TelnyxEmulator
    kit: VoiceKit
    db: Database

    @property
    def events_url(self) -> str:
        """The Call Control application's webhook URL (where inbound calls arrive)."""
        return f"{self.base_url}/webhooks/telnyx/events"

    async def import_number(self, phone: str, **fields: str) -> str:
        imported = await self.http.post(
            f"{API}/telephony/numbers/import",
            json={"phone_number": phone, "provider_type": "telnyx", "api_key": API_KEY, **fields},
        )
        assert imported.status_code == 201, imported.text
        number_id: str = imported.json()["data"]["id"]
        return number_id

    async def assign(self, number_id: str, *directions: str) -> None:
        for direction in directions:
            assigned = await self.http.post(
                f"{API}/telephony/numbers/assign",
                json={
                    "number_id": number_id,
                    "agent_id": self.agent_id,
                    "assignment_type": direction,
                },
            )
            assert assigned.status_code == 200, assigned.text

    async def call(self, call_id: str) -> dict[str, Any]:
        got = await self.http.get(f"{API}/calls/{call_id}")
        assert got.status_code == 200, got.text
        data: dict[str, Any] = got.json()["data"]
        return data


@pytest.fixture
async def telnyx_emulator() -> AsyncIterator[TelnyxEmulator]:
    emulator = TelnyxEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def deployment(
    db: Database, settings: Settings, tenant: Tenant, telnyx_emulator: TelnyxEmulator
) -> AsyncIterator[Deployment]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    base_url = f"http://{host}:{port}"
    live = settings.model_copy(
        update={
            "public_base_url": base_url,
            "telnyx_api_base_url": telnyx_emulator.base_url,
            "tts_engine": "espeak",
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
        }
    )
    engine = Engine(db, live)
    stop = asyncio.Event()
    engine_task = asyncio.create_task(engine.run(stop))
    server = uvicorn.Server(
        uvicorn.Config(app_for(live, db=db, engine=engine), log_level="warning", lifespan="off")
    )
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.01)
    agent_id = await insert_agent(
        db, tenant.org_id, system_prompt="- I'm calling about your appointment on Thursday."
    )
    async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers, timeout=30) as http:
        deployed = Deployment(base_url, http, tenant, agent_id, telnyx_emulator, engine.voice, db)
        number_id = await deployed.import_number(
            NUMBER, public_key=telnyx_emulator.public_key, connection_id=CONNECTION_ID
        )
        await deployed.assign(number_id, "inbound", "outbound")
        yield deployed
    stop.set()
    await asyncio.wait_for(engine_task, 30)
    server.should_exit = True
    await server_task


async def place(deployment: Deployment) -> tuple[str, str]:
    """POST /calls; returns (Voxline call id, Telnyx call_control_id)."""
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": CALLEE}
    )
    assert created.status_code == 201, created.text
    call_id: str = created.json()["data"]["id"]
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    return call_id, call.call_control_id


async def deliver(deployment: Deployment, hooks: list[Any]) -> None:
    statuses = await deployment.emulator.deliver(hooks, deployment.http)
    assert statuses == [204] * len(hooks)


async def play_callee(
    deployment: Deployment, stream_url: str, call_control_id: str, client_state: str, token: str
) -> int:
    """Be Telnyx's side of the media stream: present the ``stream_auth_token`` as Telnyx
    does, stream the callee's voice in real time (as base64 μ-law RTP payloads) and count
    the agent audio that comes back."""
    speech = await deployment.kit.tts.synthesize(CALLEE_LINE, "espeak-en-us-f3")
    ulaw = pcm16_to_mulaw(resample(speech, 16000, 8000))
    silence = b"\xff" * 160
    script = [silence] * 150 + [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]
    script += [silence] * 250
    stream_id = str(uuid.uuid4()).upper()
    received = 0
    async with websockets.connect(
        stream_url, additional_headers={STREAM_TOKEN_HEADER: token}
    ) as ws:
        await ws.send(json.dumps({"event": "connected", "version": "1.0.0"}))
        start = {
            "call_control_id": call_control_id,
            "call_session_id": str(uuid.uuid4()),
            "from": NUMBER,
            "to": CALLEE,
            "client_state": client_state,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }
        await ws.send(
            json.dumps(
                {"event": "start", "sequence_number": "1", "stream_id": stream_id, "start": start}
            )
        )

        async def listen() -> None:
            nonlocal received
            async for message in ws:
                if json.loads(message).get("event") == "media":
                    received += 1

        listener = asyncio.create_task(listen())
        await ws.send(
            json.dumps(
                {
                    "event": "dtmf",
                    "sequence_number": "2",
                    "stream_id": stream_id,
                    "dtmf": {"digit": "7"},
                }
            )
        )
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        for index, chunk in enumerate(script):
            media = {
                "track": "inbound",
                "chunk": str(index),
                "timestamp": str(index * 20),
                "payload": base64.b64encode(chunk).decode(),
            }
            message = {
                "event": "media",
                "sequence_number": str(index + 3),
                "stream_id": stream_id,
                "media": media,
            }
            try:
                await ws.send(json.dumps(message))
            except websockets.ConnectionClosed:
                break
            next_tick += 0.02
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
        stop = {
            "event": "stop",
            "stream_id": stream_id,
            "stop": {"call_control_id": call_control_id},
        }
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(json.dumps(stop))
        listener.cancel()
    return received


# One backend per carrier (the three together cover both): the call's audio path, not its
# storage, is what this test is about, and it is among the suite's slowest.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_outbound_call_through_telnyx(deployment: Deployment, tmp_path: Path) -> None:
    tts = count_speech(deployment.kit)
    call_id, call_control_id = await place(deployment)
    dialed = deployment.emulator.calls[call_control_id].request
    assert dialed["to"] == CALLEE
    assert dialed["from"] == NUMBER
    assert dialed["connection_id"] == CONNECTION_ID
    assert dialed["webhook_url"] == f"{deployment.events_url}?call_id={call_id}"
    assert parse_qs(urlsplit(dialed["stream_url"]).query)["call_id"] == [call_id]

    hooks = deployment.emulator.scenario(call_control_id, "completed")
    await deliver(deployment, hooks[:1])  # call.initiated: ringing
    assert (await deployment.call(call_id))["status"] == "ringing"
    await tts.wait_greetings(1)  # synthesized while the phone rings
    received = await play_callee(
        deployment,
        dialed["stream_url"],
        call_control_id,
        dialed["client_state"],
        dialed["stream_auth_token"],
    )
    assert received > 50  # the agent spoke back
    await deliver(deployment, hooks[1:])  # answered, AMD human, hangup

    for _ in range(200):
        got = await deployment.call(call_id)
        if got["summary"] is not None and got["metrics"] is not None:
            break
        await asyncio.sleep(0.05)
    assert got["status"] == "completed"
    assert got["answered_by"] == "human"
    assert got["context"]["dtmf"] == "7"
    turns = (await deployment.http.get(f"{API}/calls/{call_id}/transcript")).json()["data"]
    heard = " ".join(t["text"] for t in turns["transcript"] if t["speaker"] == "contact")
    assert misheard(CALLEE_LINE, CALLEE_KEYWORDS, heard, CALLEE_WER_AT_MOST) == [], heard
    assert misheard(OTHER_LINE, OTHER_KEYWORDS, heard, CALLEE_WER_AT_MOST) != [], heard
    assert turns["transcript"][0]["speaker"] == "agent"

    url = (await deployment.http.get(f"{API}/calls/{call_id}/recording")).json()["data"]
    audio = await deployment.http.get(url["recording_url"])
    path = tmp_path / "call.wav"
    path.write_bytes(audio.content)
    _, agent_level, contact_level = channel_levels(path)
    assert agent_level > 300 and contact_level > 300
    assert tts.greetings() == 1  # the prepared greeting was the one played


@pytest.mark.parametrize(
    ("scenario", "status", "end_reason"),
    [
        ("busy", "busy", "busy"),
        ("no-answer", "no_answer", "no_answer"),
        ("failed", "failed", "provider_error"),
        ("voicemail", "voicemail", "voicemail"),
    ],
)
async def test_call_outcomes_from_webhooks(
    deployment: Deployment, scenario: str, status: str, end_reason: str
) -> None:
    call_id, call_control_id = await place(deployment)
    await deliver(deployment, deployment.emulator.scenario(call_control_id, scenario))
    got = await deployment.call(call_id)
    assert got["status"] == status
    assert got["end_reason"] == end_reason
    if status == "failed":
        assert got["context"]["last_error"]


async def test_forged_webhooks_are_rejected_and_change_nothing(deployment: Deployment) -> None:
    call_id, call_control_id = await place(deployment)
    hook = deployment.emulator.scenario(call_control_id, "busy")[-1]
    forged = hook.body.replace(b"user_busy", b"call_rejected")
    responses = [
        await deployment.http.post(hook.url, content=forged, headers=hook.headers),
        await deployment.http.post(
            hook.url, content=hook.body, headers={"content-type": "application/json"}
        ),
    ]
    # A genuine signature from long ago is a replay.
    stale = int(time.time()) - 3600
    old = deployment.emulator.scenario(call_control_id, "busy", now=stale)[-1]
    responses.append(await deployment.http.post(old.url, content=old.body, headers=old.headers))
    assert [r.status_code for r in responses] == [403, 403, 403]
    got = await deployment.call(call_id)
    assert got["status"] == "queued"
    assert got["end_reason"] is None


async def test_webhooks_of_a_number_without_public_key_are_refused(
    deployment: Deployment,
) -> None:
    await deployment.assign(
        await deployment.import_number("+14155552672", connection_id="2000000000000000001"),
        "inbound",
    )
    parked, hook = deployment.emulator.inbound(CALLER, "+14155552672", deployment.events_url)
    response = await deployment.http.post(hook.url, content=hook.body, headers=hook.headers)
    assert response.status_code == 403
    assert parked.commands == []
    listed = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert listed == []


async def test_provider_errors(deployment: Deployment) -> None:
    deployment.emulator.inject(
        Injected(422, "10016", "Phone number must be in +E.164 format", "The 'to' is invalid")
    )
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": CALLEE}
    )
    failed = await refused_call(deployment.http, created)
    assert "+E.164 format" in failed["context"]["last_error"]
    assert deployment.emulator.calls == {}

    deployment.emulator.inject(Injected(503, "10007", "Service unavailable", "Try again"))
    retried = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": CALLEE}
    )
    assert retried.status_code == 201, retried.text
    call_id = retried.json()["data"]["id"]
    for _ in range(100):
        if deployment.emulator.calls:
            break
        await asyncio.sleep(0.05)
    assert len(deployment.emulator.calls) == 1
    got = await deployment.call(call_id)
    assert got["status"] == "queued"
    # The retryable 503 was recorded, then the retry went through.
    assert "Service unavailable" in got["context"]["last_error"]


async def test_inbound_call_is_answered_with_a_media_stream(deployment: Deployment) -> None:
    parked, hook = deployment.emulator.inbound(CALLER, NUMBER, deployment.events_url)
    await deliver(deployment, [hook])
    # AnswerCall cannot carry a stream token: the call is answered, then streamed.
    (answer, body), (stream, started) = parked.commands
    assert (answer, stream) == ("answer", "streaming_start")
    assert "stream_url" not in body
    call_id = parse_qs(urlsplit(started["stream_url"]).query)["call_id"][0]
    assert body["webhook_url"] == f"{deployment.events_url}?call_id={call_id}"
    assert started["stream_codec"] == "PCMU" and started["stream_bidirectional_mode"] == "rtp"
    assert started["stream_auth_token"]  # the call's media token
    listed = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert [c["id"] for c in listed] == [call_id]
    assert listed[0]["phone_number"] == CALLER
    assert listed[0]["from_number"] == NUMBER

    # Telnyx retries a webhook it got no answer to: still one call.
    await deliver(deployment, [hook])
    listed = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert len(listed) == 1


async def test_inbound_call_to_a_number_without_agent_is_rejected(
    deployment: Deployment,
) -> None:
    await deployment.import_number(
        "+14155552673",
        public_key=deployment.emulator.public_key,
        connection_id=CONNECTION_ID,
    )
    parked, hook = deployment.emulator.inbound(CALLER, "+14155552673", deployment.events_url)
    await deliver(deployment, [hook])
    assert parked.commands == [("reject", {"cause": "CALL_REJECTED"})]
    (call,) = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert call["status"] == "failed"
    assert call["end_reason"] == "rejected"
    assert "not assigned to an agent" in call["context"]["last_error"]


async def open_stream(
    stream_url: str, call_control_id: str, client_state: str, token: str | None
) -> Any:
    """Open the media socket as Telnyx does (presenting ``token`` as its upgrade header)
    and send its ``start``; returns the socket."""
    headers = {STREAM_TOKEN_HEADER: token} if token is not None else {}
    ws = await websockets.connect(stream_url, additional_headers=headers)
    start = {
        "call_control_id": call_control_id,
        "client_state": client_state,
        "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
    }
    await ws.send(json.dumps({"event": "connected", "version": "1.0.0"}))
    await ws.send(json.dumps({"event": "start", "stream_id": "S1", "start": start}))
    return ws


async def test_media_stream_of_another_call_control_id_is_refused(
    deployment: Deployment,
) -> None:
    call_id, call_control_id = await place(deployment)
    dialed = deployment.emulator.calls[call_control_id].request
    ws = await open_stream(
        dialed["stream_url"],
        "v3:someone-else",
        dialed["client_state"],
        dialed["stream_auth_token"],
    )
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert (await deployment.call(call_id))["status"] == "queued"


async def test_inbound_media_stream_connects_the_call(deployment: Deployment) -> None:
    parked, hook = deployment.emulator.inbound(CALLER, NUMBER, deployment.events_url)
    await deliver(deployment, [hook])
    (_, body), (_, started) = parked.commands
    call_id = parse_qs(urlsplit(started["stream_url"]).query)["call_id"][0]
    ws = await open_stream(
        started["stream_url"],
        parked.call_control_id,
        body["client_state"],
        started["stream_auth_token"],
    )
    try:
        for _ in range(100):
            got = await deployment.call(call_id)
            if got["status"] == "in_progress":
                break
            await asyncio.sleep(0.05)
        assert got["status"] == "in_progress"
        assert got["direction"] == "inbound"
        await ws.send(json.dumps({"event": "stop", "stream_id": "S1"}))
    finally:
        await ws.close()
    # The caller hangs up: Telnyx reports it to the URL given in the answer command.
    hangup = {
        "data": {
            "record_type": "event",
            "event_type": "call.hangup",
            "id": str(uuid.uuid4()),
            "payload": {
                "call_control_id": parked.call_control_id,
                "client_state": body["client_state"],
                "hangup_cause": "normal_clearing",
                "hangup_source": "caller",
            },
        }
    }
    raw = json.dumps(hangup).encode()
    signed = deployment.emulator.sign(raw, int(time.time()))
    response = await deployment.http.post(body["webhook_url"], content=raw, headers=signed)
    assert response.status_code == 204
    for _ in range(100):
        got = await deployment.call(call_id)
        if got["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert got["status"] == "completed"
    assert got["end_reason"] == "contact_hangup"
