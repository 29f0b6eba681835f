"""A Twilio call end to end: POST /calls → the Twilio adapter dials the emulator → signed
status callbacks and a real media WebSocket, played here as Twilio plays them → a completed
call with a speech-to-text transcript, a two-voice recording and its cost. Also an inbound
call, forged webhooks, and provider errors."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
import websockets

from tests.conftest import API
from tests.emulators.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    Failure,
    TwilioEmulator,
    twilio_signature,
)
from tests.factories import Tenant, insert_agent
from tests.telephony.placement import refused_call, wait_dialed
from tests.voice.speech import channel_levels, misheard
from voxline.api.app import create_app
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database
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

    @property
    def api(self) -> str:
        return f"{self.base_url}{API}"


@pytest.fixture
async def deployment(
    db: Database, settings: Settings, tenant: Tenant, twilio: TwilioEmulator
) -> AsyncIterator[Deployment]:
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
    stop = asyncio.Event()
    engine_task = asyncio.create_task(engine.run(stop))
    server = uvicorn.Server(
        uvicorn.Config(create_app(live, db=db, engine=engine), log_level="warning", lifespan="off")
    )
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.01)
    agent_id = await insert_agent(
        db, tenant.org_id, system_prompt="- I'm calling about your appointment on Thursday."
    )
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
                json={"number_id": number_id, "agent_id": agent_id, "assignment_type": direction},
            )
            assert assigned.status_code == 200, assigned.text
        yield Deployment(base_url, http, tenant, agent_id, twilio, engine.voice, db)
    stop.set()
    await asyncio.wait_for(engine_task, 30)
    server.should_exit = True
    await server_task


async def post_callbacks(deployment: Deployment, call_sid: str, scenario: str, upto: int) -> None:
    for callback in deployment.emulator.callbacks(call_sid, scenario)[:upto]:
        response = await deployment.http.post(
            callback.url, content=callback.body, headers=callback.headers
        )
        assert response.status_code == 204, response.text


async def play_callee(deployment: Deployment, stream: ET.Element, call_sid: str) -> int:
    """Be Twilio's side of the media stream of the TwiML ``<Stream>`` element: echo its
    parameters (our call id and media token) in the start, stream the callee's voice, in
    real time, and count the agent audio that comes back."""
    stream_url = stream.get("url") or ""
    parameters = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
    speech = await deployment.kit.tts.synthesize(CALLEE_LINE, "espeak-en-us-f3")
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
        await ws.send(json.dumps({"event": "stop", "streamSid": start["streamSid"]}))
        listener.cancel()
    return received


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
