"""Two real ``voxline worker`` processes on PostgreSQL: worker A hosts live sandbox calls and
gets SIGTERM. Its readiness fails at once, new calls are placed by worker B only, A's calls go
on until they end on their own, the ones still live at A's (short) drain limit end
``shutdown``, and A exits 0. A second signal makes B end its live call at once, exiting 0."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.conftest import _free_port
from tests.engine.deployment import postgres_deployment, start_voxline
from tests.factories import insert_agent, insert_number, make_tenant
from voxline.config import load_settings
from voxline.services import calls as call_service
from voxline.services import orgs
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow

pytestmark = pytest.mark.slow

TALKER = "+14155550100"  # talks, says goodbye: ends on its own after a few seconds
FILIBUSTER = "+14155550106"  # keeps talking until max_duration (an hour here)
HANGS_UP = "+14155550105"  # answers and hangs up at once
DRAIN_SECONDS = 8.0


def _limit(margin: float = 0.0) -> timedelta:
    return timedelta(seconds=DRAIN_SECONDS + margin)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with postgres_deployment(
        tmp_path / "shared-data",
        "voxline_drain",
        SECRET_KEY="drain-test",
        SANDBOX_TIME_SCALE="0.15",
        SANDBOX_MODE="text",
    ) as created:
        yield created


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return start_voxline(env, "worker", *args)


def _readyz(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
    except httpx.TransportError:
        return None


def _until(what: str, condition: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.1)


class Deployment:
    """The test's view of the shared database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def run(self, work: Callable[[Database], Any]) -> Any:
        async def main() -> Any:
            db = Database(self.url)
            try:
                return await work(db)
            finally:
                await db.dispose()

        return asyncio.run(main())

    def setup(self) -> tuple[str, str]:
        async def work(db: Database) -> tuple[str, str]:
            tenant = await make_tenant(db, "Drain", credit="100")
            await orgs.set_concurrency_limit(db, tenant.org_id, 20)
            agent = await insert_agent(db, tenant.org_id)
            await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
            return tenant.org_id, agent

        result: tuple[str, str] = self.run(work)
        return result

    def create(self, org_id: str, agent_id: str, *numbers: str) -> list[str]:
        async def work(db: Database) -> list[str]:
            settings = load_settings(database_url=self.url, secret_key="drain-test")
            ids = []
            for number in numbers:
                new = call_service.NewCall(
                    agent_id,
                    number,
                    overrides=call_service.SettingsOverrides(max_duration="3600s"),
                )
                outcome = await call_service.create_call(
                    db, settings, org_id, new, idempotency_key=None, render=lambda c: c.id
                )
                ids.append(str(outcome.body))
            return ids

        created: list[str] = self.run(work)
        return created

    def rows(self) -> dict[str, Any]:
        async def work(db: Database) -> dict[str, Any]:
            async with db.read() as conn:
                return {r.id: r for r in (await conn.execute(sa.select(calls))).all()}

        found: dict[str, Any] = self.run(work)
        return found


def _worker_of(row: Any) -> str | None:
    """The pid of the worker ``row``'s lease names (its id is host:pid:suffix), if any."""
    return None if row.lease_owner is None else str(row.lease_owner.split(":")[1])


def _on(process: subprocess.Popen[bytes], row: Any) -> bool:
    """Whether ``row``'s lease names the worker ``process``."""
    return _worker_of(row) == str(process.pid)


def test_a_draining_worker_lets_its_calls_finish_while_another_takes_the_new_ones(
    deployment: tuple[str, dict[str, str]],
) -> None:
    url, env = deployment
    db = Deployment(url)
    org_id, agent_id = db.setup()
    port_a, port_b = _free_port(), _free_port()
    a = _start(
        {**env, "VOXLINE_ENGINE_DRAIN_SECONDS": str(DRAIN_SECONDS)},
        "--ops-port",
        str(port_a),
    )
    b = _start({**env, "VOXLINE_WORKER_OPS_PORT": str(port_b)})
    try:
        _until("both workers ready", lambda: _readyz(port_a) == _readyz(port_b) == 200)
        # B pauses while A takes the first calls, so that A hosts them all.
        b.send_signal(signal.SIGSTOP)
        first = db.create(org_id, agent_id, TALKER, FILIBUSTER, FILIBUSTER)
        _until(
            "A hosts the first calls",
            lambda: all(
                r.status == "in_progress" and _on(a, r) for i, r in db.rows().items() if i in first
            ),
        )
        b.send_signal(signal.SIGCONT)

        a.send_signal(signal.SIGTERM)
        sigterm_at = utcnow()
        _until("A's readiness fails", lambda: _readyz(port_a) == 503, within=5)
        assert db.rows()[first[0]].status == "in_progress", "the talker ended too early"

        later = db.create(org_id, agent_id, HANGS_UP, HANGS_UP, FILIBUSTER)
        # A call's lease is released when it ends, and the two that hang up at once may
        # be placed and end between two looks: every lease seen on the way is kept.
        owners: dict[str, set[str]] = {i: set() for i in later}

        def placed() -> bool:
            rows = db.rows()
            for i in later:
                if (owner := _worker_of(rows[i])) is not None:
                    owners[i].add(owner)
            return all(rows[i].status != "queued" for i in later)

        _until("B places the new calls", placed)
        _until("B hosts its filibuster", lambda: placed() and str(b.pid) in owners[later[2]])
        rows = db.rows()
        assert all(owners[i] <= {str(b.pid)} for i in later), owners
        assert all(owners[i] or rows[i].status == "completed" for i in later), owners
        assert _readyz(port_b) == 200

        assert a.wait(timeout=DRAIN_SECONDS + 20) == 0
        rows = db.rows()
        talker, *filibusters = (rows[i] for i in first)
        # The talker finished its conversation on its own while A drained.
        assert talker.status == "completed"
        assert talker.end_reason in {"agent_hangup", "contact_hangup"}
        assert talker.ended_at < sigterm_at.replace(tzinfo=talker.ended_at.tzinfo) + _limit()
        for row in filibusters:
            assert (row.status, row.end_reason) == ("completed", "shutdown")
            # Not before the drain limit (0.5 s margin for the clocks of two processes).
            ended: datetime = row.ended_at
            assert ended >= sigterm_at.replace(tzinfo=ended.tzinfo) + _limit(-0.5)
        # A finalized what it hosted before it exited.
        assert all(rows[i].finalized_at is not None for i in first)

        # B hosts its filibuster: a second signal ends it at once instead of in an hour.
        _until("B hosts its call", lambda: db.rows()[later[2]].status == "in_progress")
        b.send_signal(signal.SIGTERM)
        _until("B's readiness fails", lambda: _readyz(port_b) == 503, within=5)
        assert b.poll() is None
        b.send_signal(signal.SIGINT)
        assert b.wait(timeout=20) == 0
        last = db.rows()[later[2]]
        assert (last.status, last.end_reason) == ("completed", "shutdown")
        assert last.finalized_at is not None
    finally:
        for process in (a, b):
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
