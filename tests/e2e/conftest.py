"""A live Voxline server, started the way a user starts it: ``voxline bootstrap`` then
``voxline serve`` in a real process on a free port, on SQLite or on PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_ADMIN_URL


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    api_key: str
    org_id: str
    agent_id: str
    phone_number: str
    database_url: str
    data_dir: Path

    @property
    def api(self) -> str:
        return f"{self.base_url}/api/public/v1"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _psql_admin(statement: str) -> None:
    import asyncio

    from tests.conftest import _admin_execute

    asyncio.run(_admin_execute(statement))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live") / "data"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXLINE_")}
    env.update(
        VOXLINE_DATA_DIR=str(data_dir),
        VOXLINE_PORT=str(port),
        VOXLINE_RATE_LIMIT_PER_MINUTE="0",
        VOXLINE_LOG_FORMAT="console",
        VOXLINE_LOG_LEVEL="WARNING",
        VOXLINE_SANDBOX_TIME_SCALE="0.05",
        VOXLINE_SANDBOX_MODE="text",
    )
    db_name = None
    if request.param == "postgres":
        db_name = f"voxline_live_{uuid.uuid4().hex[:10]}"
        _psql_admin(f'CREATE DATABASE "{db_name}"')
        env["VOXLINE_DATABASE_URL"] = (
            make_url(POSTGRES_ADMIN_URL).set(database=db_name).render_as_string(False)
        )
    database_url = env.get(
        "VOXLINE_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir.resolve()}/voxline.db"
    )
    cli = [sys.executable, "-m", "voxline"]
    boot = subprocess.run(
        [*cli, "bootstrap", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert boot.returncode == 0, boot.stderr
    demo = json.loads(boot.stdout)
    server = subprocess.Popen(
        [*cli, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"server did not start: {server.stderr and server.stderr.read()}"
                )
            time.sleep(0.2)
        yield LiveServer(
            base_url=base_url,
            api_key=demo["api_key"],
            org_id=demo["org_id"],
            agent_id=demo["agent_id"],
            phone_number=demo["phone_number"],
            database_url=database_url,
            data_dir=data_dir,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if db_name:
            _psql_admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
