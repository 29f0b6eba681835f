"""Two real ``voxline worker`` processes on PostgreSQL share a burst of calls; one is killed
with SIGKILL in the middle. No call is lost and nobody is dialed twice."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.e2e.conftest import _free_port
from tests.engine.deployment import postgres_deployment, start_voxline
from tests.factories import insert_agent, insert_number, make_tenant
from voxline.services import orgs
from voxline.storage.db import Database
from voxline.storage.tables import calls, credit_ledger

BURST = 500


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with postgres_deployment(
        tmp_path / "shared-data",
        "voxline_workers",
        SECRET_KEY="workers-test",
        SANDBOX_TIME_SCALE="0.05",
        SANDBOX_MODE="text",
        ENGINE_DRAIN_SECONDS="0",
        RATE_LIMIT_PER_MINUTE="0",
    ) as created:
        yield created


async def _setup(url: str) -> tuple[str, str]:
    db = Database(url)
    try:
        tenant = await make_tenant(db, "Burst", credit="1000")
        await orgs.set_concurrency_limit(db, tenant.org_id, 120)
        agent = await insert_agent(db, tenant.org_id)
        await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
        return tenant.api_key, agent
    finally:
        await db.dispose()


async def _post_burst(base: str, api_key: str, agent_id: str) -> list[str]:
    headers = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        semaphore = asyncio.Semaphore(20)

        async def one(index: int) -> str:
            # A spread of behaviours: talkers, busy lines, voicemail and silence.
            to = ["+14155550100", "+14155550101", "+14155550103", "+14155550123"][index % 4]
            async with semaphore:
                response = await http.post(
                    f"{API}/calls",
                    json={
                        "agent_id": agent_id,
                        "phone_number": to,
                        "call_settings": {"join_timeout": "120s"},
                    },
                )
            assert response.status_code == 201, response.text
            return str(response.json()["data"]["id"])

        return await asyncio.gather(*(one(i) for i in range(BURST)))


async def _snapshot(url: str) -> tuple[list[sa.Row[object]], list[sa.Row[object]]]:
    db = Database(url)
    try:
        async with db.read() as conn:
            rows = (await conn.execute(sa.select(calls))).all()
            ledger = (await conn.execute(sa.select(credit_ledger.c.call_id))).all()
        return list(rows), list(ledger)
    finally:
        await db.dispose()


def test_burst_with_a_killed_worker_loses_no_call_and_dials_nobody_twice(
    deployment: tuple[str, dict[str, str]],
) -> None:
    url, env = deployment
    api_key, agent_id = asyncio.run(_setup(url))
    port = _free_port()
    api = start_voxline({**env, "VOXLINE_PORT": str(port)}, "serve", "--no-engine")
    workers = [start_voxline(env, "worker"), start_voxline(env, "worker")]
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.2)

        ids = asyncio.run(_post_burst(base, api_key, agent_id))
        assert len(set(ids)) == BURST
        time.sleep(1.0)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()

        deadline = time.monotonic() + 240
        while True:
            rows, ledger = asyncio.run(_snapshot(url))
            if len(rows) == BURST and all(r.finalized_at is not None for r in rows):
                break
            assert time.monotonic() < deadline, (
                f"{sum(r.finalized_at is None for r in rows)} calls never finished"
            )
            time.sleep(1.0)
        # The surviving worker stops gracefully on SIGTERM.
        workers[1].send_signal(signal.SIGTERM)
        assert workers[1].wait(timeout=60) == 0
    finally:
        for process in [api, *workers]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [api, *workers]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    log = Path(env["VOXLINE_DATA_DIR"], "sandbox", "placements.log").read_text().split()
    dialed = collections.Counter(log)
    assert max(dialed.values()) == 1, "a call was dialed twice"
    by_id = {r.id: r for r in rows}
    assert set(by_id) == set(ids)
    for row in rows:
        assert row.status in {"completed", "busy", "voicemail", "no_answer", "failed"}
        if row.status != "failed":
            assert dialed[row.id] == 1, f"{row.status} call {row.id} was never dialed"
        else:
            assert row.end_reason in {"placement_unknown", "provider_error"}
    debits = collections.Counter(r.call_id for r in ledger if r.call_id is not None)
    assert debits == collections.Counter(ids)
    # The kill interrupted calls in flight: they were ended by recovery, not re-dialed.
    interrupted = [r for r in rows if r.end_reason in {"placement_unknown", "provider_error"}]
    assert interrupted, collections.Counter((r.status, r.end_reason) for r in rows)
