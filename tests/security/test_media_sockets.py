"""Media WebSockets that never start are not held: each is closed after the start timeout,
and one address cannot keep more than a few of them waiting at once."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from tests.factories import app_for
from voxline.config import Settings
from voxline.storage.db import Database

PROVIDERS = ["twilio", "telnyx", "plivo"]
# Generous: the server closes after its (short) start timeout; this only bounds a hang.
PATIENCE = 30


@pytest.fixture
async def server_url(db: Database, settings: Settings) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    live = settings.model_copy(
        update={"media_start_timeout_seconds": 0.5, "media_pending_per_address": 2}
    )
    server = uvicorn.Server(
        uvicorn.Config(app_for(live, db=db), log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
        await asyncio.sleep(0.01)
    yield f"ws://{host}:{port}"
    server.should_exit = True
    await task


async def _closed_by_server(ws: ClientConnection) -> int | None:
    """Wait (ignoring anything sent) until the server closes ``ws``; its close code."""
    async with asyncio.timeout(PATIENCE):
        try:
            while True:
                await ws.recv()
        except websockets.ConnectionClosed:
            pass
    return ws.close_code


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_socket_that_never_starts_is_closed(server_url: str, provider: str) -> None:
    async with websockets.connect(f"{server_url}/media/{provider}") as ws:
        await ws.send(json.dumps({"event": "connected"}))
        assert await _closed_by_server(ws) == 1008


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_deeply_nested_message_is_dropped_like_any_malformed_one(
    server_url: str, provider: str
) -> None:
    async with websockets.connect(f"{server_url}/media/{provider}") as ws:
        await ws.send("[" * 100_000 + "]" * 100_000)
        await ws.send("{not json")
        assert await _closed_by_server(ws) == 1008  # by the start timeout, not an error


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_start_for_no_active_call_is_closed(server_url: str, provider: str) -> None:
    start = {"event": "start", "start": {"callSid": "CA1", "customParameters": {"call_id": "x"}}}
    async with websockets.connect(f"{server_url}/media/{provider}?call_id=x") as ws:
        await ws.send(json.dumps(start))
        assert await _closed_by_server(ws) == 1008


async def test_one_address_may_hold_only_a_few_sockets_before_their_start(
    server_url: str,
) -> None:
    first = await websockets.connect(f"{server_url}/media/twilio")
    second = await websockets.connect(f"{server_url}/media/telnyx")
    try:
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(f"{server_url}/media/plivo")
        assert await _closed_by_server(first) == 1008
        assert await _closed_by_server(second) == 1008
        # Once those are gone, the address may open another.
        again = await websockets.connect(f"{server_url}/media/plivo")
        assert await _closed_by_server(again) == 1008
    finally:
        await first.close()
        await second.close()
