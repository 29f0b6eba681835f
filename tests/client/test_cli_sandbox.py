"""``voxline sandbox call-in`` against a live server that runs an engine (its sandbox plays
the caller), through Typer's runner."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from tests.factories import Tenant, app_for, insert_agent, insert_number, make_tenant
from voxline.cli import app
from voxline.cli_client import EXIT_API_ERROR, EXIT_NOT_FOUND
from voxline.config import Settings
from voxline.services.provider_calls import UNASSIGNED_NUMBER
from voxline.storage.db import Database

ASSIGNED = "+14155551001"
UNASSIGNED = "+14155551002"


# One backend is enough for the command line (the API's tests run on both).
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
async def server(db: Database, settings: Settings) -> AsyncIterator[tuple[str, Tenant, str]]:
    tenant = await make_tenant(db, "Acme")
    agent_id = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, ASSIGNED, inbound_agent_id=agent_id)
    await insert_number(db, tenant.org_id, UNASSIGNED)
    fast = settings.model_copy(update={"sandbox_time_scale": 0.02, "engine_poll_seconds": 0.1})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    served = uvicorn.Server(uvicorn.Config(app_for(fast, run_engine=True), log_level="warning"))
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not served.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}", tenant, agent_id
    finally:
        served.should_exit = True
        await asyncio.to_thread(thread.join, 30)
        sock.close()


def run(tmp_path: Path, *args: str) -> Result:
    env = {"VOXLINE_API_URL": None, "VOXLINE_API_KEY": None, "XDG_CONFIG_HOME": str(tmp_path)}
    return CliRunner().invoke(app, list(args), env=env)


async def test_sandbox_call_in_reaches_the_inbound_agent_or_says_no_agent(
    server: tuple[str, Tenant, str], tmp_path: Path
) -> None:
    url, tenant, agent_id = server
    flags = ["--base-url", url, "--api-key", tenant.api_key]

    answered = await asyncio.to_thread(
        run, tmp_path, "sandbox", "call-in", ASSIGNED, "--persona", "talker", "--json", *flags
    )
    assert answered.exit_code == 0, answered.output
    call = json.loads(answered.stdout)
    assert call["direction"] == "inbound" and call["agent_id"] == agent_id
    assert call["status"] in ("ringing", "in_progress")

    plain = await asyncio.to_thread(run, tmp_path, "sandbox", "call-in", UNASSIGNED, *flags)
    assert plain.exit_code == 0, plain.output
    assert plain.stdout.split()[1:] == ["failed", "inbound"]
    assert UNASSIGNED_NUMBER in plain.stderr

    unknown = await asyncio.to_thread(run, tmp_path, "sandbox", "call-in", "+14155551999", *flags)
    assert unknown.exit_code == EXIT_NOT_FOUND
    bad = await asyncio.to_thread(
        run, tmp_path, "sandbox", "call-in", ASSIGNED, "--persona", "busy", *flags
    )
    assert bad.exit_code == EXIT_API_ERROR and "persona" in bad.stderr
