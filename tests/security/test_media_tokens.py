"""Media WebSockets are authenticated: a socket for a live call of Twilio, Telnyx or Plivo
opens only with that call's media token for that provider, unexpired. Without one, with a
forged, an expired, another call's or another provider's token, the socket is closed
(1008) before any agent audio is sent and the call is not marked answered; the refusal is
logged with its reason and never the token. With the right token the stream is taken and
the call connects; a second stream for a call already streaming here is refused while the
first goes on. Twilio's ``X-Twilio-Signature`` on the upgrade is checked when present."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import uvicorn
import websockets
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection

from tests.conftest import API
from tests.factories import Tenant, app_for, insert_call
from tests.security.webhook_peers import import_line
from voxline.config import Settings
from voxline.storage.db import Database
from voxline.telephony.media_tokens import MediaTokens
from voxline.telephony.telnyx.webhooks import encode_client_state

PROVIDERS = ["twilio", "telnyx", "plivo"]
NUMBERS = {"twilio": "+14155552671", "telnyx": "+14155552672", "plivo": "+14155552673"}
SECRET = "0123456789abcdef" * 2
# Generous bounds on waits; nothing here asserts how long anything takes.
PATIENCE = 30
AUDIO_EVENTS = {"media", "playAudio"}


@dataclass
class Deployment:
    base_url: str
    ws_url: str
    db: Database
    settings: Settings
    tenant: Tenant
    http: httpx.AsyncClient
    lines: dict[str, tuple[str, str]]  # provider -> (number id, agent id)
    other_node_ws_url: str  # another API node on the same database

    @property
    def tokens(self) -> MediaTokens:
        return MediaTokens.for_deployment(
            self.settings.resolved_secret_key(), self.settings.media_token_ttl_seconds
        )

    async def live_call(self, provider: str) -> tuple[str, str]:
        """A ringing call of ``provider`` (our id, the provider's id)."""
        number_id, agent_id = self.lines[provider]
        provider_call_id = f"{provider}-{uuid.uuid4()}"
        call_id = await insert_call(
            self.db,
            self.tenant.org_id,
            agent_id,
            status="ringing",
            provider_type=provider,
            provider_call_id=provider_call_id,
            phone_number_id=number_id,
            from_number=NUMBERS[provider],
        )
        return call_id, provider_call_id

    async def status(self, call_id: str) -> str:
        got = await self.http.get(f"{API}/calls/{call_id}")
        status: str = got.json()["data"]["status"]
        return status


@pytest.fixture
async def deployment(db: Database, settings: Settings, tenant: Tenant) -> AsyncIterator[Deployment]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    base_url = f"http://{host}:{port}"
    live = settings.model_copy(
        update={
            "public_base_url": base_url,
            "tts_engine": "espeak",
            "media_start_timeout_seconds": 10,
        }
    )
    other_sock = socket.socket()
    other_sock.bind(("127.0.0.1", 0))
    servers, tasks = [], []
    for bound in (sock, other_sock):
        server = uvicorn.Server(
            uvicorn.Config(app_for(live, db=db), log_level="warning", lifespan="off")
        )
        servers.append(server)
        tasks.append(asyncio.create_task(server.serve(sockets=[bound])))
    while not all(server.started for server in servers):  # noqa: ASYNC110 - no event for it
        await asyncio.sleep(0.01)
    other_host, other_port = other_sock.getsockname()
    async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers, timeout=30) as http:
        lines = {}
        for provider in PROVIDERS:
            line = await import_line(http, db, tenant, provider, NUMBERS[provider], SECRET)
            lines[provider] = (line.number_id, line.agent_id)
        yield Deployment(
            base_url,
            f"ws://{host}:{port}",
            db,
            live,
            tenant,
            http,
            lines,
            f"ws://{other_host}:{other_port}",
        )
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)


def _start(provider: str, call_id: str, provider_call_id: str, token: str | None) -> str:
    """The provider's ``start`` message (Twilio's carries the token as a custom parameter)."""
    if provider == "twilio":
        parameters = {"call_id": call_id} | ({"token": token} if token is not None else {})
        start: dict[str, Any] = {
            "streamSid": "MZ" + "0" * 32,
            "callSid": provider_call_id,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        return json.dumps({"event": "start", "sequenceNumber": "1", "start": start})
    if provider == "telnyx":
        start = {
            "call_control_id": provider_call_id,
            "client_state": encode_client_state(call_id),
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }
        return json.dumps({"event": "start", "stream_id": "S1", "start": start})
    start = {
        "callId": provider_call_id,
        "streamId": str(uuid.uuid4()),
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    }
    headers = "callId=" + call_id.replace("-", "")
    return json.dumps({"event": "start", "start": start, "extra_headers": headers})


async def open_stream(
    deployment: Deployment,
    provider: str,
    call_id: str,
    provider_call_id: str,
    token: str | None,
    headers: dict[str, str] | None = None,
    *,
    node: str | None = None,
) -> ClientConnection:
    """Open ``provider``'s media socket for the call as that provider does (on the node at
    ``node``, else the first), presenting ``token`` where the provider carries it, and
    send the start."""
    url = f"{node or deployment.ws_url}/media/{provider}"
    extra = dict(headers or {})
    if provider in ("telnyx", "plivo"):
        query = {"call_id": call_id} | (
            {"token": token} if provider == "plivo" and token is not None else {}
        )
        url = f"{url}?{urlencode(query)}"
    if provider == "telnyx" and token is not None:
        extra["x-telnyx-streaming-auth-token"] = token
    ws = await websockets.connect(url, additional_headers=extra)
    await ws.send(json.dumps({"event": "connected", "version": "1.0.0"}))
    await ws.send(_start(provider, call_id, provider_call_id, token))
    return ws


async def audio_until_closed(ws: ClientConnection) -> tuple[int, int | None]:
    """Read until the server closes ``ws``: the agent audio messages seen, the close code."""
    audio = 0
    async with asyncio.timeout(PATIENCE):
        try:
            while True:
                message = json.loads(await ws.recv())
                audio += message.get("event") in AUDIO_EVENTS
        except websockets.ConnectionClosed:
            pass
    return audio, ws.close_code


async def wait_status(deployment: Deployment, call_id: str, status: str) -> str:
    got = ""
    for _ in range(PATIENCE * 10):
        got = await deployment.status(call_id)
        if got == status:
            break
        await asyncio.sleep(0.1)
    return got


BadToken = Callable[[MediaTokens, str, str], str | None]

BAD_TOKENS: dict[str, BadToken] = {
    "missing": lambda tokens, provider, call_id: None,
    "forged": lambda tokens, provider, call_id: f"v1.{int(time.time()) + 600}.{'A' * 43}",
    "garbled": lambda tokens, provider, call_id: "v1.\u0661\u0662.\u00e9 not a token",
    "expired": lambda tokens, provider, call_id: tokens.issue(
        provider, call_id, time.time() - tokens.ttl_seconds - 60
    ),
    "another call's": lambda tokens, provider, call_id: tokens.issue(
        provider, str(uuid.uuid4()), time.time()
    ),
    "another provider's": lambda tokens, provider, call_id: tokens.issue(
        "plivo" if provider != "plivo" else "twilio", call_id, time.time()
    ),
    "another deployment's": lambda tokens, provider, call_id: MediaTokens.for_deployment(
        "another-deployment", 600
    ).issue(provider, call_id, time.time()),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_a_stream_without_the_calls_token_is_refused_before_any_audio(
    deployment: Deployment, provider: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    call_id, provider_call_id = await deployment.live_call(provider)
    token = BAD_TOKENS[kind](deployment.tokens, provider, call_id)
    if kind == "garbled" and provider == "telnyx":
        token = "v1.x.y z!"  # an upgrade header is ASCII
    with caplog.at_level(logging.WARNING, logger="voxline"):
        ws = await open_stream(deployment, provider, call_id, provider_call_id, token)
        audio, code = await audio_until_closed(ws)
    assert (audio, code) == (0, 1008)
    assert await deployment.status(call_id) == "ringing"  # not answered by the stray socket
    refusals = [r for r in caplog.records if r.getMessage() == "media socket refused"]
    assert [getattr(r, "reason", "").startswith("token") for r in refusals] == [True]
    if token:
        assert all(token not in r.getMessage() + str(r.__dict__) for r in caplog.records)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_calls_own_token_opens_its_stream(deployment: Deployment, provider: str) -> None:
    call_id, provider_call_id = await deployment.live_call(provider)
    token = deployment.tokens.issue(provider, call_id, time.time())
    ws = await open_stream(deployment, provider, call_id, provider_call_id, token)
    try:
        assert await wait_status(deployment, call_id, "in_progress") == "in_progress"
    finally:
        await ws.close()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_second_stream_for_a_live_call_is_refused_and_the_first_goes_on(
    deployment: Deployment, provider: str
) -> None:
    call_id, provider_call_id = await deployment.live_call(provider)
    token = deployment.tokens.issue(provider, call_id, time.time())
    first = await open_stream(deployment, provider, call_id, provider_call_id, token)
    try:
        assert await wait_status(deployment, call_id, "in_progress") == "in_progress"
        second = await open_stream(deployment, provider, call_id, provider_call_id, token)
        assert await audio_until_closed(second) == (0, 1008)
        # The first stream still carries the call: the agent's greeting reaches it.
        async with asyncio.timeout(PATIENCE):
            while json.loads(await first.recv()).get("event") not in AUDIO_EVENTS:
                pass
        assert await deployment.status(call_id) == "in_progress"
    finally:
        await first.close()


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_second_stream_on_another_node_is_refused_and_the_first_goes_on(
    deployment: Deployment, provider: str
) -> None:
    call_id, provider_call_id = await deployment.live_call(provider)
    token = deployment.tokens.issue(provider, call_id, time.time())
    first = await open_stream(deployment, provider, call_id, provider_call_id, token)
    try:
        assert await wait_status(deployment, call_id, "in_progress") == "in_progress"
        second = await open_stream(
            deployment,
            provider,
            call_id,
            provider_call_id,
            token,
            node=deployment.other_node_ws_url,
        )
        assert await audio_until_closed(second) == (0, 1008)
        async with asyncio.timeout(PATIENCE):
            while json.loads(await first.recv()).get("event") not in AUDIO_EVENTS:
                pass
    finally:
        await first.close()


async def test_the_other_node_takes_a_stream_of_its_own(deployment: Deployment) -> None:
    call_id, provider_call_id = await deployment.live_call("twilio")
    token = deployment.tokens.issue("twilio", call_id, time.time())
    ws = await open_stream(
        deployment, "twilio", call_id, provider_call_id, token, node=deployment.other_node_ws_url
    )
    try:
        assert await wait_status(deployment, call_id, "in_progress") == "in_progress"
    finally:
        await ws.close()


def _twilio_upgrade_signature(deployment: Deployment, auth_token: str) -> str:
    url = deployment.ws_url + "/media/twilio"
    signature: str = RequestValidator(auth_token).compute_signature(url, {})
    return signature


@pytest.mark.parametrize(
    ("signed_with", "accepted"),
    [(SECRET, True), ("fedcba9876543210" * 2, False), (None, True)],
)
async def test_twilios_upgrade_signature_is_checked_when_present(
    deployment: Deployment, signed_with: str | None, accepted: bool
) -> None:
    call_id, provider_call_id = await deployment.live_call("twilio")
    token = deployment.tokens.issue("twilio", call_id, time.time())
    headers = (
        {"X-Twilio-Signature": _twilio_upgrade_signature(deployment, signed_with)}
        if signed_with is not None
        else {}
    )
    ws = await open_stream(deployment, "twilio", call_id, provider_call_id, token, headers)
    try:
        if accepted:
            assert await wait_status(deployment, call_id, "in_progress") == "in_progress"
        else:
            assert await audio_until_closed(ws) == (0, 1008)
            assert await deployment.status(call_id) == "ringing"
    finally:
        await ws.close()


async def test_a_right_upgrade_signature_does_not_replace_the_token(
    deployment: Deployment,
) -> None:
    call_id, provider_call_id = await deployment.live_call("twilio")
    headers = {"X-Twilio-Signature": _twilio_upgrade_signature(deployment, SECRET)}
    ws = await open_stream(deployment, "twilio", call_id, provider_call_id, None, headers)
    assert await audio_until_closed(ws) == (0, 1008)
    assert await deployment.status(call_id) == "ringing"
