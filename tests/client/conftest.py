"""A live Voxline API on a free loopback port, for the SDK and the CLI to talk to over HTTP.

The server runs in its own thread with its own event loop and its own database connection
(as ``voxline serve --no-engine`` would), so the blocking client and the CLI can be driven
from the test while it answers. Calls it creates stay queued: no engine places them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn

from tests.factories import Tenant, app_for, insert_agent, insert_number, make_tenant
from voxline.config import Settings
from voxline.storage.db import Database

FROM = "+14155550199"
TO = "+14155550123"


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    tenant: Tenant
    other: Tenant
    agent_id: str
    db: Database


@pytest.fixture
async def live(db: Database, settings: Settings) -> AsyncIterator[LiveApi]:
    tenant = await make_tenant(db, "Acme")
    other = await make_tenant(db, "Globex")
    agent_id = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, FROM, outbound_agent_id=agent_id)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    # No db passed: the server opens (and at shutdown closes) its own, on its own loop.
    server = uvicorn.Server(uvicorn.Config(app_for(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # uvicorn offers no event for it
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        await asyncio.sleep(0.01)
    try:
        yield LiveApi(f"http://{host}:{port}", tenant, other, agent_id, db)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 30)
        sock.close()
