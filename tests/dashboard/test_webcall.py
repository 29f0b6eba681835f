"""Web calls over a real WebSocket (no browser): the ``websockets`` client speaks espeak's
speech as the browser's microphone would, against the app and an engine on a loopback port
with the local speech models."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.emulators.loopback import LoopbackServer
from tests.factories import Tenant, app_for, insert_agent, make_tenant
from tests.voice.speech import SENTENCE, misheard
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.services import call_queries
from voxline.services.call_records import Call
from voxline.storage.db import Database
from voxline.voice.frames import FRAME_BYTES, silence
from voxline.voice.tts.espeak import EspeakTts

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

KEYWORDS = ("appointment", "tuesday")


@dataclass
class WebSite:
    url: str
    db: Database
    settings: Settings
    tenant: Tenant
    agent_id: str


@pytest.fixture
async def site(db: Database, settings: Settings) -> AsyncIterator[WebSite]:
    web = settings.model_copy(
        update={"tts_engine": "espeak", "engine_poll_seconds": 0.1, "engine_drain_seconds": 0.5}
    )
    tenant = await make_tenant(db, "Acme")
    agent_id = await insert_agent(
        db,
        tenant.org_id,
        system_prompt="- Is there anything else I can help you with?",
        greeting="Hi, this is Ava from Voxline Dental.",
        voice_id="espeak-en-us",
    )
    engine = Engine(db, web)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    server = LoopbackServer(app_for(web, db=db, engine=engine))
    url = await server.start()
    try:
        yield WebSite(url, db, web, tenant, agent_id)
    finally:
        await server.stop()
        stop.set()
        await asyncio.wait_for(running, 30)


async def _signed_in(http: httpx.AsyncClient, tenant: Tenant) -> str:
    """Sign ``http`` in; the form token of its session."""
    page = (await http.get("/dashboard/sign-in")).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    response = await http.post(
        "/dashboard/sign-in", data={"csrf": csrf.group(1), "api_key": tenant.api_key}
    )
    assert response.status_code == 303
    talk = (await http.get("/dashboard/calls")).text
    found = re.search(r'name="csrf" value="([^"]+)"', talk)
    assert found is not None
    return found.group(1)


async def _start(http: httpx.AsyncClient, site: WebSite, csrf: str) -> dict[str, str]:
    response = await http.post(f"/dashboard/agents/{site.agent_id}/webcall", data={"csrf": csrf})
    assert response.status_code == 201, response.text
    started: dict[str, str] = response.json()
    return started


def _socket_url(site: WebSite, path: str) -> str:
    return site.url.replace("http://", "ws://") + path


def _cookie(http: httpx.AsyncClient) -> dict[str, str]:
    return {"Cookie": f"voxline_dashboard={http.cookies['voxline_dashboard']}"}


async def _speak(ws: ClientConnection, pcm: bytes, heard: bytearray) -> None:
    """Send ``pcm`` in real time, 20 ms a message, keeping what the agent says meanwhile."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index, offset in enumerate(range(0, len(pcm), FRAME_BYTES)):
        await ws.send(pcm[offset : offset + FRAME_BYTES])
        while True:
            wait = start + (index + 1) * 0.02 - loop.time()
            if wait <= 0:
                break
            try:
                message = await asyncio.wait_for(ws.recv(), wait)
            except TimeoutError:
                break
            if isinstance(message, bytes):
                heard += message


async def _finished(site: WebSite, call_id: str, within: float = 60) -> Call:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        call = await call_queries.get_call(site.db, site.settings, site.tenant.org_id, call_id)
        if call.summary is not None:
            return call
        assert loop.time() < deadline, call
        await asyncio.sleep(0.1)


async def test_a_web_call_hears_the_person_answers_and_is_recorded_and_billed(
    site: WebSite,
) -> None:
    sentence = await EspeakTts().synthesize(SENTENCE)
    async with httpx.AsyncClient(base_url=site.url) as http:
        csrf = await _signed_in(http, site.tenant)
        started = await _start(http, site, csrf)
        agent_said = bytearray()
        async with connect(
            _socket_url(site, started["socket"]), additional_headers=_cookie(http)
        ) as ws:
            await ws.send(json.dumps({"type": "start", "token": started["token"]}))
            assert json.loads(await ws.recv()) == {"type": "started"}
            await _speak(ws, silence(3000), agent_said)  # the greeting plays meanwhile
            greeting_bytes = len(agent_said)
            await _speak(ws, sentence + silence(4000), agent_said)
            await ws.send(json.dumps({"type": "hangup"}))
            ended: dict[str, Any] = {}
            with pytest.raises(ConnectionClosed):
                while True:
                    message = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(message, str):
                        ended = json.loads(message)
            assert ended == {"type": "ended", "by": "contact"}
            assert ws.close_code == 1000
    assert greeting_bytes > 16000 * 2  # more than a second of the greeting
    assert len(agent_said) > greeting_bytes  # and the agent's reply to the sentence

    call = await _finished(site, started["call_id"])
    assert call.status == "completed" and call.end_reason == "contact_hangup"
    assert call.direction == "inbound" and call.context == {"channel": "web"}
    assert call.phone_number == "web" and call.from_number is None
    assert call.recording_url is not None
    assert call.duration_seconds is not None and call.duration_seconds >= 7
    assert call.cost_usd is not None and call.cost_usd > 0
    transcript = await call_queries.get_transcript(site.db, site.tenant.org_id, call.id)
    assert transcript.turns[0].speaker == "agent"
    heard = " ".join(t.text for t in transcript.turns if t.speaker == "contact")
    assert misheard(SENTENCE, KEYWORDS, heard, 0.5) == [], heard
    listed, _ = await call_queries.list_calls(
        site.db,
        site.settings,
        site.tenant.org_id,
        call_queries.CallFilters(status=None, direction=None, agent_id=None),
        limit=10,
        offset=0,
    )
    assert [c.id for c in listed] == [call.id]


async def _refused(url: str, headers: dict[str, str], first: str | None) -> int | None:
    async with connect(url, additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed):
            if first is not None:
                await ws.send(first)
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code


async def test_a_web_call_socket_is_refused_without_the_session_or_the_calls_token(
    site: WebSite, db: Database
) -> None:
    other = await make_tenant(db, "Globex")
    async with (
        httpx.AsyncClient(base_url=site.url) as http,
        httpx.AsyncClient(base_url=site.url) as stranger,
    ):
        csrf = await _signed_in(http, site.tenant)
        await _signed_in(stranger, other)
        first = await _start(http, site, csrf)
        second = await _start(http, site, csrf)
        url = _socket_url(site, first["socket"])
        start = json.dumps({"type": "start", "token": first["token"]})
        # No session; another organization's session; the wrong call's token; no start.
        assert await _refused(url, {}, start) == 1008
        assert await _refused(url, _cookie(stranger), start) == 1008
        wrong = json.dumps({"type": "start", "token": second["token"]})
        assert await _refused(url, _cookie(http), wrong) == 1008
        assert await _refused(url, _cookie(http), "hello") == 1008
        unknown = _socket_url(site, "/dashboard/webcall/ws?call_id=nope")
        assert await _refused(unknown, _cookie(http), start) == 1008
        # A form without the session's token starts nothing.
        forged = await http.post(
            f"/dashboard/agents/{site.agent_id}/webcall", data={"csrf": "forged"}
        )
        assert forged.status_code == 403
        # The right session and token still open the call, once.
        async with connect(url, additional_headers=_cookie(http)) as ws:
            await ws.send(start)
            assert json.loads(await ws.recv()) == {"type": "started"}
            assert await _refused(url, _cookie(http), start) == 1008
            await ws.send(json.dumps({"type": "hangup"}))
    call = await _finished(site, first["call_id"])
    assert call.status == "completed" and call.end_reason == "contact_hangup"
