"""A Plivo call end to end: POST /calls → the Plivo adapter dials the emulator → signed V3
callbacks, an answer URL returning ``<Stream>`` XML, and a real audio-stream WebSocket played
here as Plivo plays it → a completed call with a speech-to-text transcript, a two-voice
recording and its cost. Also status outcomes, forged webhooks, provider errors, refused
streams and an inbound call."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
import websockets

from tests.conftest import API
from tests.emulators.plivo import AUTH_ID, AUTH_TOKEN, Callback, Failure, PlivoEmulator, sign
from tests.factories import Tenant, app_for, insert_agent
from tests.telephony.greeting import count_speech
from tests.telephony.placement import refused_call, wait_dialed
from tests.voice.speech import channel_levels, misheard
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database
from voxline.telephony.media_tokens import MediaTokens
from voxline.telephony.plivo.webhooks import media_url, stream_headers, transfer_url
from voxline.voice.audio import pcm16_to_mulaw, resample
from voxline.voice.kit import VoiceKit

NUMBER = "+14155552671"
CONTACT = "+14155550123"
CALLEE_LINE = "Yes, speaking. What is this about?"
# The words of CALLEE_LINE that carry its meaning, and its word error rate bound: through the
# phone line Whisper hears "Yes, speaking, what is this amount?" (WER 0.17) on each of
# CTranslate2's kernel families; the bound allows a second word lost on another processor.
CALLEE_KEYWORDS = ("yes", "speaking")
CALLEE_WER_AT_MOST = 0.35
# A line the callee did not say, which the transcript must not pass for.
OTHER_LINE, OTHER_KEYWORDS = "Please leave a message after the beep.", ("message", "beep")
SILENCE = b"\xff" * 160  # 20 ms of μ-law silence at 8 kHz


@dataclass
class Deployment:
    base_url: str
    http: httpx.AsyncClient
    tenant: Tenant
    agent_id: str
    emulator: PlivoEmulator
    kit: VoiceKit
    db: Database


@pytest.fixture
async def plivo() -> AsyncIterator[PlivoEmulator]:
    emulator = PlivoEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def deployment(
    db: Database, settings: Settings, tenant: Tenant, plivo: PlivoEmulator
) -> AsyncIterator[Deployment]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    base_url = f"http://{host}:{port}"
    live = settings.model_copy(
        update={
            "public_base_url": base_url,
            "plivo_api_base_url": plivo.base_url,
            "tts_engine": "espeak",
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
            "placement_backoff_seconds": 0.2,
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
        imported = await http.post(
            f"{API}/telephony/numbers/import",
            json={
                "phone_number": NUMBER,
                "provider_type": "plivo",
                "auth_id": AUTH_ID,
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
        yield Deployment(base_url, http, tenant, agent_id, plivo, engine.voice, db)
    stop.set()
    await asyncio.wait_for(engine_task, 30)
    server.should_exit = True
    await server_task


async def place_call(deployment: Deployment) -> str:
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": CONTACT}
    )
    assert created.status_code == 201, created.text
    call_id: str = created.json()["data"]["id"]
    return call_id


async def post(deployment: Deployment, callback: Callback) -> httpx.Response:
    return await deployment.http.post(callback.url, content=callback.body, headers=callback.headers)


async def post_callbacks(deployment: Deployment, callbacks: list[Callback]) -> None:
    for callback in callbacks:
        response = await post(deployment, callback)
        assert response.status_code in (200, 204), response.text


async def get_call(deployment: Deployment, call_id: str) -> dict[str, object]:
    data: dict[str, object] = (await deployment.http.get(f"{API}/calls/{call_id}")).json()["data"]
    return data


def stream_of(xml: str) -> ET.Element:
    stream = ET.fromstring(xml).find("./Stream")
    assert stream is not None, xml
    return stream


def start_message(call_uuid: str, extra_headers: str) -> str:
    start = {
        "callId": call_uuid,
        "streamId": str(uuid.uuid4()),
        "accountId": AUTH_ID,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    }
    return json.dumps(
        {"event": "start", "sequenceNumber": 1, "start": start, "extra_headers": extra_headers}
    )


async def play_callee(
    deployment: Deployment, stream: ET.Element, call_uuid: str, script: list[bytes]
) -> int:
    """Be Plivo's side of the audio stream: ``script`` (20 ms μ-law chunks) in real time, then
    close the socket (Plivo sends no stop); returns how many ``playAudio`` came back."""
    received = 0
    async with websockets.connect(stream.text or "") as ws:
        await ws.send(start_message(call_uuid, stream.get("extraHeaders") or ""))

        async def listen() -> None:
            nonlocal received
            async for message in ws:
                if json.loads(message).get("event") == "playAudio":
                    received += 1

        listener = asyncio.create_task(listen())
        await ws.send(json.dumps({"event": "dtmf", "dtmf": {"digit": "7", "track": "inbound"}}))
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        for index, chunk in enumerate(script):
            media = {
                "track": "inbound",
                "timestamp": str(1_772_445_600_000 + index * 20),
                "chunk": index + 1,
                "payload": base64.b64encode(chunk).decode(),
            }
            message = {"event": "media", "sequenceNumber": index + 2, "media": media}
            try:
                await ws.send(json.dumps(message))
            except websockets.ConnectionClosed:
                break
            next_tick += 0.02
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
        listener.cancel()
    return received


# One backend per carrier (the three together cover both): the call's audio path, not its
# storage, is what this test is about, and it is among the suite's slowest.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_outbound_call_through_plivo(deployment: Deployment, tmp_path: Path) -> None:
    tts = count_speech(deployment.kit)
    call_id = await place_call(deployment)
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    assert (call.body["to"], call.body["from"]) == ("14155550123", "14155552671")
    assert (
        call.body["answer_url"] == f"{deployment.base_url}/webhooks/plivo/answer?call_id={call_id}"
    )

    ring, start_app, hangup = deployment.emulator.callbacks(call.request_uuid, "completed")
    await post_callbacks(deployment, [ring])
    assert (await get_call(deployment, call_id))["status"] == "ringing"
    await tts.wait_greetings(1)  # synthesized while the phone rings
    answer = await post(deployment, start_app)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    stream = stream_of(answer.text)
    assert stream.get("bidirectional") == "true"
    assert stream.get("contentType") == "audio/x-mulaw;rate=8000"
    url = urlsplit(stream.text or "")
    assert f"{url.scheme}://{url.netloc}{url.path}" == (
        f"ws://{deployment.base_url.removeprefix('http://')}/media/plivo"
    )
    query = parse_qs(url.query)
    assert query["call_id"] == [call_id] and query["token"]  # the call's media token

    speech = await deployment.kit.tts.synthesize(CALLEE_LINE, "espeak-en-us-f3")
    ulaw = pcm16_to_mulaw(resample(speech, 16000, 8000))
    script = [SILENCE] * 150 + [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]
    received = await play_callee(deployment, stream, call.request_uuid, script + [SILENCE] * 250)
    assert received > 50  # the agent spoke back
    await post_callbacks(deployment, [hangup])

    for _ in range(200):
        got = await get_call(deployment, call_id)
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
    ("scenario", "status"),
    [
        ("busy", "busy"),
        ("no-answer", "no_answer"),
        ("failed", "failed"),
        ("voicemail", "voicemail"),
    ],
)
async def test_call_outcomes_from_callbacks(
    deployment: Deployment, scenario: str, status: str
) -> None:
    call_id = await place_call(deployment)
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    await post_callbacks(deployment, deployment.emulator.callbacks(call.request_uuid, scenario))
    got = await get_call(deployment, call_id)
    assert got["status"] == status
    if status == "failed":
        assert got["context"]["last_error"]  # type: ignore[index]


async def test_forged_webhooks_are_rejected_and_change_nothing(deployment: Deployment) -> None:
    call_id = await place_call(deployment)
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    ring, hangup = deployment.emulator.callbacks(call.request_uuid, "busy")
    forged = hangup.body.replace(b"busy", b"completed")
    assert (
        await deployment.http.post(hangup.url, content=forged, headers=hangup.headers)
    ).status_code == 403
    unsigned = {"Content-Type": "application/x-www-form-urlencoded"}
    assert (
        await deployment.http.post(hangup.url, content=hangup.body, headers=unsigned)
    ).status_code == 403
    other_account = PlivoEmulator(auth_token="someone-elses-token").signed(ring.url, ring.params)
    assert (await post(deployment, other_account)).status_code == 403
    moved = ring.url.replace("/events", "/answer")
    assert (
        await deployment.http.post(moved, content=ring.body, headers=ring.headers)
    ).status_code == 403
    assert (await get_call(deployment, call_id))["status"] == "queued"


async def test_provider_errors(deployment: Deployment) -> None:
    deployment.emulator.fail_next(Failure(400, "to must be a phone number with country code"))
    created = await deployment.http.post(
        f"{API}/calls", json={"agent_id": deployment.agent_id, "phone_number": CONTACT}
    )
    failed = await refused_call(deployment.http, created)
    assert "must be a phone number" in failed["context"]["last_error"]

    deployment.emulator.fail_next(Failure(503, "Service unavailable"))
    call_id = await place_call(deployment)
    for _ in range(300):
        if deployment.emulator.calls:
            break
        await asyncio.sleep(0.05)
    assert len(deployment.emulator.calls) == 1
    got = await get_call(deployment, call_id)
    assert got["status"] == "queued"
    # The retryable 503 was recorded, then the retry went through.
    assert "Service unavailable" in got["context"]["last_error"]  # type: ignore[index]


async def test_stream_of_another_plivo_call_is_refused(
    deployment: Deployment, settings: Settings
) -> None:
    call_id = await place_call(deployment)
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    ring, _, _ = deployment.emulator.callbacks(call.request_uuid, "completed")
    await post_callbacks(deployment, [ring])
    # With the call's own media token: refused for what the start says, not for a token.
    tokens = MediaTokens.for_deployment(
        settings.resolved_secret_key(), settings.media_token_ttl_seconds
    )
    url = media_url(deployment.base_url, call_id, tokens.issue("plivo", call_id, time.time()))
    for call_uuid, headers in (
        (str(uuid.uuid4()), stream_headers(call_id)),  # another Plivo call
        (call.request_uuid, stream_headers(str(uuid.uuid4()))),  # disagrees with the URL
    ):
        async with websockets.connect(url) as ws:
            await ws.send(start_message(call_uuid, headers))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert (await get_call(deployment, call_id))["status"] == "ringing"


def inbound_callback(deployment: Deployment, path: str, fields: dict[str, str]) -> Callback:
    params = {
        "CallUUID": "7a1b2c3d-0000-4000-8000-00000000abcd",
        "From": "14155559876",
        "To": NUMBER.removeprefix("+"),
        "Direction": "inbound",
        **fields,
    }
    return deployment.emulator.signed(f"{deployment.base_url}{path}", params)


async def test_inbound_call_is_answered_with_a_media_stream(deployment: Deployment) -> None:
    offer = inbound_callback(
        deployment, "/webhooks/plivo/answer", {"Event": "StartApp", "CallStatus": "ringing"}
    )
    response = await post(deployment, offer)
    assert response.status_code == 200, response.text
    stream = stream_of(response.text)
    listed = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert [c["phone_number"] for c in listed] == ["+14155559876"]
    assert listed[0]["from_number"] == NUMBER
    call_id = listed[0]["id"]
    query = parse_qs(urlsplit(stream.text or "").query)
    assert query["call_id"] == [call_id] and query["token"]

    await play_callee(deployment, stream, offer.params["CallUUID"], [SILENCE] * 25)
    hangup = inbound_callback(
        deployment,
        "/webhooks/plivo/events",  # the Plivo application's hangup URL: no call_id
        {"Event": "Hangup", "CallStatus": "completed", "HangupSource": "Caller"},
    )
    await post_callbacks(deployment, [hangup])
    got = await get_call(deployment, call_id)
    assert got["status"] == "completed"
    assert got["direction"] == "inbound"


async def test_inbound_call_to_an_unknown_number_is_refused_like_a_forgery(
    deployment: Deployment,
) -> None:
    params = {"CallUUID": str(uuid.uuid4()), "From": "14155559876", "To": "14155550000"}
    params["Direction"] = "inbound"
    url = f"{deployment.base_url}/webhooks/plivo/answer"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Plivo-Signature-V3": sign(AUTH_TOKEN, url, params, "1" * 20),
        "X-Plivo-Signature-V3-Nonce": "1" * 20,
    }
    response = await deployment.http.post(url, content=urlencode(params), headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "Invalid webhook signature",
        "details": {},
    }
    listed = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert listed == []


async def test_inbound_call_to_an_unassigned_number_is_turned_away_and_recorded(
    deployment: Deployment,
) -> None:
    numbers = (await deployment.http.get(f"{API}/telephony/numbers")).json()["data"]
    unassigned = await deployment.http.post(
        f"{API}/telephony/numbers/unassign",
        json={"number_id": numbers[0]["id"], "assignment_type": "inbound"},
    )
    assert unassigned.status_code == 200
    offer = inbound_callback(
        deployment, "/webhooks/plivo/answer", {"Event": "StartApp", "CallStatus": "ringing"}
    )
    response = await post(deployment, offer)
    assert response.status_code == 200, response.text
    assert "<Stream" not in response.text
    assert "<Hangup" in response.text or "<Speak" in response.text
    (call,) = (await deployment.http.get(f"{API}/calls?direction=inbound")).json()["data"]
    assert call["status"] == "failed"
    assert "not assigned to an agent" in call["context"]["last_error"]


async def test_a_transferred_leg_is_dialed_to_the_destination_its_signed_url_names(
    deployment: Deployment,
) -> None:
    call_id = await place_call(deployment)
    await wait_dialed(deployment.db, call_id)
    (call,) = deployment.emulator.calls.values()
    url = transfer_url(deployment.base_url, call_id, "+14155550177")
    fields = {"CallUUID": call.request_uuid, "CallStatus": "in-progress"}

    answer = await post(deployment, deployment.emulator.signed(url, fields))

    assert answer.status_code == 200
    number = ET.fromstring(answer.text).find("./Dial/Number")
    assert number is not None and number.text == "14155550177"
    other_account = PlivoEmulator(auth_token="someone-elses-token").signed(url, fields)
    assert (await post(deployment, other_account)).status_code == 403
    nowhere = transfer_url(deployment.base_url, call_id, "not-a-number")
    assert (await post(deployment, deployment.emulator.signed(nowhere, fields))).status_code == 400
