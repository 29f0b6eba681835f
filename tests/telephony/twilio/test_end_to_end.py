"""A Twilio call end to end: POST /calls → the Twilio adapter dials the emulator → signed
status callbacks and a real media WebSocket, played here as Twilio plays them → a completed
call with a speech-to-text transcript, a two-voice recording and its cost. Also an inbound
call, forged webhooks, and provider errors."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
import websockets
from fastapi import FastAPI

from tests.conftest import API
from tests.emulators.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    Failure,
    TwilioEmulator,
    twilio_signature,
)
from tests.factories import Tenant, app_for, insert_agent
from tests.telephony.greeting import CountingTts, count_speech
from tests.telephony.placement import refused_call, wait_dialed
from tests.voice.speech import channel_levels, misheard
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.voice.audio import pcm16_to_mulaw, resample
from voxline.voice.kit import VoiceKit

NUMBER = "+14155552671"
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
    emulator: TwilioEmulator
    kit: VoiceKit
    db: Database
    engine: Engine
    tts: CountingTts
    app: FastAPI

    def app_prepared(self, call_id: str) -> bool:
        """Whether the app's own voice sessions (an API-only node's) prepared the call."""
        return bool(self.app.state.runtime.sessions.prepared(call_id))

    @property
    def api(self) -> str:
        return f"{self.base_url}{API}"


@asynccontextmanager
async def deploy(
    db: Database,
    settings: Settings,
    tenant: Tenant,
    twilio: TwilioEmulator,
    *,
    engine_in_app: bool,
    recording_delays: tuple[float, ...] | None = None,
) -> AsyncIterator[Deployment]:
    """The app and an engine on loopback; with ``engine_in_app`` False the app is an API-only
    node (``--no-engine``) and the engine a separate worker of the same database, not
    running: the test drives its rounds."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    base_url = f"http://{host}:{port}"
    live = settings.model_copy(
        update={
            "public_base_url": base_url,
            "twilio_api_base_url": twilio.base_url,
            "tts_engine": "espeak",
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
        }
    )
    engine = Engine(db, live)
    if recording_delays is not None:
        engine.finalizer.recording_delays = recording_delays
    tts = count_speech(engine.voice)
    stop = asyncio.Event()
    engine_task = asyncio.create_task(engine.run(stop)) if engine_in_app else None
    app = (
        app_for(live, db=db, engine=engine)
        if engine_in_app
        else app_for(live, db=db, run_engine=False)
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.01)
    agent_id = await insert_agent(
        db, tenant.org_id, system_prompt="- I'm calling about your appointment on Thursday."
    )
    try:
        async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers, timeout=30) as http:
            imported = await http.post(
                f"{API}/telephony/numbers/import",
                json={
                    "phone_number": NUMBER,
                    "provider_type": "twilio",
                    "account_sid": ACCOUNT_SID,
                    "auth_token": AUTH_TOKEN,
                },
            )
            assert imported.status_code == 201, imported.text
            number_id = imported.json()["data"]["id"]
            for direction in ("inbound", "outbound"):
                assigned = await http.post(
                    f"{API}/telephony/numbers/assign",
                    json={
                        "number_id": number_id,
                        "agent_id": agent_id,
                        "assignment_type": direction,
                    },
                )
                assert assigned.status_code == 200, assigned.text
            yield Deployment(
                base_url, http, tenant, agent_id, twilio, engine.voice, db, engine, tts, app
            )
    finally:
        stop.set()
        if engine_task is not None:
            await asyncio.wait_for(engine_task, 30)
        else:
            for carrier in engine.carriers:
                await carrier.aclose()
        server.should_exit = True
        await server_task


@pytest.fixture
async def deployment(
    db: Database, settings: Settings, tenant: Tenant, twilio: TwilioEmulator
) -> AsyncIterator[Deployment]:
    async with deploy(db, settings, tenant, twilio, engine_in_app=True) as deployed:
        yield deployed


@pytest.fixture
async def api_node(
    db: Database, settings: Settings, tenant: Tenant, twilio: TwilioEmulator
) -> AsyncIterator[Deployment]:
    """An API-only node takes the webhooks; a separate worker's engine, whose rounds the test
    drives, places and finalizes (asking for a recording at once, at most three times)."""
    async with deploy(
        db, settings, tenant, twilio, engine_in_app=False, recording_delays=(0.0, 0.0, 0.0)
    ) as deployed:
        yield deployed


async def post_callbacks(deployment: Deployment, call_sid: str, scenario: str, upto: int) -> None:
    for callback in deployment.emulator.callbacks(call_sid, scenario)[:upto]:
        response = await deployment.http.post(
            callback.url, content=callback.body, headers=callback.headers
        )
        assert response.status_code == 204, response.text


async def play_callee(
    deployment: Deployment, stream: ET.Element, call_sid: str, line: str = CALLEE_LINE
) -> int:
    """Be Twilio's side of the media stream of the TwiML ``<Stream>`` element: echo its
    parameters (our call id and media token) in the start, stream the callee's voice saying
    ``line``, in real time, and count the agent audio that comes back."""
    stream_url = stream.get("url") or ""
    parameters = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
    speech = await deployment.kit.tts.synthesize(line, "espeak-en-us-f3")
    ulaw = pcm16_to_mulaw(resample(speech, 16000, 8000))
    silence = b"\xff" * 160
    script = [silence] * 150 + [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]
    script += [silence] * 250
    received = 0
    async with websockets.connect(stream_url) as ws:
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {
            "streamSid": "MZ" + "0" * 32,
            "accountSid": ACCOUNT_SID,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "start": start}))

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
                    "streamSid": start["streamSid"],
                    "dtmf": {"track": "inbound_track", "digit": "7"},
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
            try:
                await ws.send(
                    json.dumps({"event": "media", "streamSid": start["streamSid"], "media": media})
                )
            except websockets.ConnectionClosed:
                break
            next_tick += 0.02
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
        with contextlib.suppress(websockets.ConnectionClosed):  # closed by Voxline
            await ws.send(json.dumps({"event": "stop", "streamSid": start["streamSid"]}))
        listener.cancel()
    return received


# One backend per carrier (the three together cover both): the call's audio path, not its
# storage, is what this test is about, and it is among the suite's slowest.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_outbound_call_through_twilio(deployment: Deployment, tmp_path: Path) -> None:
    created = await deployment.http.post(
        f"{API}/calls",
        json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"},
    )
    assert created.status_code == 201, created.text
    call_id = created.json()["data"]["id"]
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    assert call.first("To") == "+14155550123"
    assert call.first("From") == NUMBER
    twiml = ET.fromstring(call.first("Twiml") or "")
    stream = twiml.find("./Connect/Stream")
    assert stream is not None
    parameters = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
    assert parameters["call_id"] == call_id
    assert parameters["token"]  # the call's media token, checked when the stream opens

    await post_callbacks(deployment, call.sid, "completed", upto=2)  # initiated, ringing
    await deployment.tts.wait_greetings(1)  # synthesized while the phone rings
    assert deployment.engine.sessions.prepared(call_id)
    received = await play_callee(deployment, stream, call.sid)
    assert received > 50  # the agent spoke back
    await post_callbacks(deployment, call.sid, "completed", upto=10)

    for _ in range(200):
        got = (await deployment.http.get(f"{API}/calls/{call_id}")).json()["data"]
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
    assert deployment.tts.greetings() == 1  # the prepared greeting was the one played
    assert not deployment.engine.sessions.prepared(call_id)


async def test_only_a_ringing_call_is_prepared_and_its_session_is_dropped_when_it_ends(
    deployment: Deployment,
) -> None:
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"}
    )
    call_id = created.json()["data"]["id"]
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    callbacks = deployment.emulator.callbacks(call.sid, "no-answer")
    assert [c.body.count("CallStatus=ringing") for c in callbacks] == [0, 1, 0]
    initiated, ringing, no_answer = callbacks
    for callback in (initiated, ringing, no_answer):
        response = await deployment.http.post(
            callback.url, content=callback.body, headers=callback.headers
        )
        assert response.status_code == 204, response.text
        if callback is initiated:
            assert not deployment.engine.sessions.prepared(call_id)  # it never rang yet
        elif callback is ringing:
            assert deployment.engine.sessions.prepared(call_id)
    assert not deployment.engine.sessions.prepared(call_id)  # dropped: no one answered
    got = (await deployment.http.get(f"{API}/calls/{call_id}")).json()["data"]
    assert got["status"] == "no_answer"


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        ("busy", "busy"),
        ("no-answer", "no_answer"),
        ("failed", "failed"),
        ("voicemail", "voicemail"),
    ],
)
async def test_call_outcomes_from_status_callbacks(
    deployment: Deployment, scenario: str, status: str
) -> None:
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"}
    )
    call_id = created.json()["data"]["id"]
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    await post_callbacks(deployment, call.sid, scenario, upto=10)
    got = (await deployment.http.get(f"{API}/calls/{call_id}")).json()["data"]
    assert got["status"] == status
    if status == "failed":
        assert got["context"]["last_error"]


async def test_forged_webhooks_are_rejected_and_change_nothing(deployment: Deployment) -> None:
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"}
    )
    call_id = created.json()["data"]["id"]
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    callback = deployment.emulator.callbacks(call.sid, "busy")[-1]
    forged = callback.body.replace("busy", "completed")
    response = await deployment.http.post(callback.url, content=forged, headers=callback.headers)
    assert response.status_code == 403
    unsigned = await deployment.http.post(
        callback.url,
        content=callback.body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 403
    got = (await deployment.http.get(f"{API}/calls/{call_id}")).json()["data"]
    assert got["status"] == "queued"


async def test_provider_errors(deployment: Deployment) -> None:
    deployment.emulator.fail_next(
        Failure(400, 21211, "The 'To' number is not a valid phone number.")
    )
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"}
    )
    failed = await refused_call(deployment.http, created)
    assert "not a valid phone number" in failed["context"]["last_error"]

    deployment.emulator.fail_next(Failure(503, 20500, "Service unavailable"))
    retried = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"}
    )
    assert retried.status_code == 201
    call_id = retried.json()["data"]["id"]
    for _ in range(100):
        if deployment.emulator.calls:
            break
        await asyncio.sleep(0.05)
    assert len(deployment.emulator.calls) == 1
    got = (await deployment.http.get(f"{API}/calls/{call_id}")).json()["data"]
    assert got["status"] == "queued"
    # The retryable 503 was recorded, then the retry went through.
    assert "Service unavailable" in got["context"]["last_error"]


async def test_inbound_call_is_answered_with_a_media_stream(deployment: Deployment) -> None:
    params = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CA" + "1" * 32),
        ("From", "+14155559876"),
        ("To", NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    url = f"{deployment.base_url}/webhooks/twilio/answer"
    from urllib.parse import urlencode

    from tests.emulators.twilio import twilio_signature

    response = await deployment.http.post(
        url,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params),
        },
    )
    assert response.status_code == 200, response.text
    twiml = ET.fromstring(response.text)
    stream = twiml.find("./Connect/Stream")
    assert stream is not None
    call_id = stream.find("Parameter").get("value")  # type: ignore[union-attr]
    listed = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert [c["id"] for c in listed] == [call_id]
    assert listed[0]["phone_number"] == "+14155559876"
    assert listed[0]["from_number"] == NUMBER


async def test_inbound_call_to_an_unassigned_number_is_turned_away_and_recorded(
    deployment: Deployment,
) -> None:
    numbers = (await deployment.http.get(f"{API}/telephony/numbers")).json()["data"]
    unassigned = await deployment.http.post(
        f"{API}/telephony/numbers/unassign",
        json={"number_id": numbers[0]["id"], "assignment_type": "inbound"},
    )
    assert unassigned.status_code == 200
    params = [
        ("AccountSid", ACCOUNT_SID),
        ("CallSid", "CA" + "2" * 32),
        ("From", "+14155559876"),
        ("To", NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    url = f"{deployment.base_url}/webhooks/twilio/answer"
    response = await deployment.http.post(
        url,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, url, params),
        },
    )
    assert response.status_code == 200
    twiml = ET.fromstring(response.text)
    assert twiml.find("./Say") is not None
    assert twiml.find("./Hangup") is not None
    assert twiml.find("./Connect") is None
    (call,) = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert call["status"] == "failed"
    assert "not assigned to an agent" in call["context"]["last_error"]
    assert call["end_reason"] == "rejected"
    assert call["agent_id"] is None  # no agent took it
    answered = await deployment.http.get(f"{API}/calls/{call['id']}")
    assert answered.json()["data"]["agent_id"] is None


async def test_the_providers_recording_is_cached_when_voxline_has_none(
    deployment: Deployment,
) -> None:
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"}
    )
    call_id = created.json()["data"]["id"]
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    recording_sid = deployment.emulator.add_recording(call.sid)
    await post_callbacks(deployment, call.sid, "completed", upto=10)
    for _ in range(100):
        response = await deployment.http.get(f"{API}/calls/{call_id}/recording")
        if response.status_code == 200:
            break
        await asyncio.sleep(0.1)
    assert response.status_code == 200, response.text
    url = response.json()["data"]["recording_url"]
    assert url.startswith(deployment.emulator.base_url)
    assert url.endswith(f"/Recordings/{recording_sid}.wav")


async def recording_state(db: Database, call_id: str) -> sa.Row[Any]:
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    calls.c.finalized_at,
                    calls.c.provider_recording_url,
                    calls.c.provider_recording_due_at,
                    calls.c.provider_recording_attempts,
                ).where(calls.c.id == call_id)
            )
        ).one()
    return row


async def ended_call_on_api_node(
    api_node: Deployment, *, recording: bool = True, **call_settings: object
) -> tuple[str, str]:
    """An outbound call placed by the worker whose every webhook the API node takes, ended
    and finalized by the worker."""
    body: dict[str, object] = {"agent_id": api_node.agent_id, "phone_number": "+14155550123"}
    if call_settings:
        body["call_settings"] = call_settings
    created = await api_node.http.post(f"{API}/calls", json=body)
    assert created.status_code == 201, created.text
    call_id = created.json()["data"]["id"]
    assert await api_node.engine.place_now(call_id) is None
    await wait_dialed(api_node.db, call_id)
    (call,) = api_node.emulator.calls.values()
    if recording:
        api_node.emulator.add_recording(call.sid)
    await post_callbacks(api_node, call.sid, "completed", upto=10)
    assert await api_node.engine.finalizer.finalize_due() == 1
    return call_id, call.sid


async def test_a_worker_fetches_the_recording_of_a_call_that_ended_on_an_api_node(
    api_node: Deployment,
) -> None:
    call_id, _ = await ended_call_on_api_node(api_node)
    assert await api_node.engine.finalizer.fetch_recordings_due() == 1
    row = await recording_state(api_node.db, call_id)
    assert row.provider_recording_url is not None
    assert row.provider_recording_url.startswith(api_node.emulator.base_url)
    assert (row.provider_recording_attempts, row.provider_recording_due_at) == (1, None)
    response = await api_node.http.get(f"{API}/calls/{call_id}/recording")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["recording_url"] == row.provider_recording_url
    # Idempotent: nothing more is asked.
    assert await api_node.engine.finalizer.fetch_recordings_due() == 0
    assert (await recording_state(api_node.db, call_id)).provider_recording_attempts == 1


async def test_a_call_without_recording_enabled_is_never_asked_for_one(
    api_node: Deployment,
) -> None:
    call_id, _ = await ended_call_on_api_node(api_node, recording_enabled=False)
    assert await api_node.engine.finalizer.fetch_recordings_due() == 0
    row = await recording_state(api_node.db, call_id)
    assert (row.provider_recording_url, row.provider_recording_due_at) == (None, None)
    assert row.provider_recording_attempts == 0
    response = await api_node.http.get(f"{API}/calls/{call_id}/recording")
    assert response.status_code == 404


async def test_a_recording_the_provider_publishes_late_is_fetched_on_a_later_round(
    api_node: Deployment,
) -> None:
    call_id, call_sid = await ended_call_on_api_node(api_node, recording=False)
    assert await api_node.engine.finalizer.fetch_recordings_due() == 0  # not published yet
    row = await recording_state(api_node.db, call_id)
    assert row.provider_recording_attempts == 1
    assert row.provider_recording_due_at is not None  # asked again later
    api_node.emulator.add_recording(call_sid)
    assert await api_node.engine.finalizer.fetch_recordings_due() == 1
    row = await recording_state(api_node.db, call_id)
    assert row.provider_recording_url is not None
    assert (row.provider_recording_attempts, row.provider_recording_due_at) == (2, None)


async def test_a_provider_without_a_recording_is_asked_a_bounded_number_of_times(
    api_node: Deployment,
) -> None:
    call_id, _ = await ended_call_on_api_node(api_node, recording=False)
    for _ in range(5):
        assert await api_node.engine.finalizer.fetch_recordings_due() == 0
    row = await recording_state(api_node.db, call_id)
    assert (row.provider_recording_url, row.provider_recording_due_at) == (None, None)
    assert row.provider_recording_attempts == 3


async def test_an_api_only_node_prepares_the_greeting_while_the_phone_rings(
    api_node: Deployment,
) -> None:
    body = {"agent_id": api_node.agent_id, "phone_number": "+14155550123"}
    call_id = (await api_node.http.post(f"{API}/calls", json=body)).json()["data"]["id"]
    assert await api_node.engine.place_now(call_id) is None
    await wait_dialed(api_node.db, call_id)
    (call,) = api_node.emulator.calls.values()

    await post_callbacks(api_node, call.sid, "no-answer", upto=1)  # initiated
    assert not api_node.app_prepared(call_id)
    await post_callbacks(api_node, call.sid, "no-answer", upto=2)  # ringing
    assert api_node.app_prepared(call_id)
    await post_callbacks(api_node, call.sid, "no-answer", upto=10)  # ends unanswered
    assert not api_node.app_prepared(call_id)


FRONT_DESK = "+14155550142"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # carrier behaviour only
async def test_a_transfer_updates_the_live_call_with_dial_and_never_hangs_it_up(
    deployment: Deployment,
) -> None:
    """The callee asks for a person; the agent's ``transfer_call`` replaces the call's TwiML
    with ``<Dial>`` (which ends the media stream) and leaves: the caller stays bridged to
    the destination, the call ends ``transferred``, and no hang-up is ever sent."""
    enabled = await deployment.http.patch(
        f"{API}/agents/{deployment.agent_id}",
        json={
            "tools": [
                {
                    "name": "transfer_call",
                    "overrides": {"destinations": [{"to": FRONT_DESK}], "message": "Sure."},
                }
            ]
        },
    )
    assert enabled.status_code == 200, enabled.text
    created = await deployment.http.post(
        f"{API}/calls",
        json={"agent_id": deployment.agent_id, "phone_number": "+14155550123"},
    )
    call_id = created.json()["data"]["id"]
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    stream = ET.fromstring(call.first("Twiml") or "").find("./Connect/Stream")
    assert stream is not None
    await post_callbacks(deployment, call.sid, "completed", upto=3)  # answered
    call.status = "in-progress"

    await play_callee(
        deployment, stream, call.sid, line="Can I talk to a human? Transfer me to a real person."
    )
    for _ in range(200):
        got = (await deployment.http.get(f"{API}/calls/{call_id}")).json()["data"]
        if got["status"] == "completed":
            break
        await asyncio.sleep(0.05)

    assert got["end_reason"] == "transferred", got
    assert got["context"]["transfer"]["to"] == FRONT_DESK
    assert call.bridged_to == FRONT_DESK
    assert call.status == "in-progress"  # the caller is still talking, to the front desk
    assert all(dict(update).get("Status") is None for update in call.updates)
