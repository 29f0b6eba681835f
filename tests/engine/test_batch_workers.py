"""Two real ``voxline worker`` processes on PostgreSQL run one batch; one is killed with
SIGKILL mid-batch. Every contact ends with exactly one call, nobody is dialed twice, and the
batch completes with counters equal to its rows."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from tests.engine.deployment import start_voxline as _start
from tests.engine.test_workers import deployment as deployment  # the fixture
from tests.factories import insert_agent, insert_number, make_tenant
from voxline.config import Settings
from voxline.services import batch_lifecycle, batches, orgs
from voxline.storage.db import Database
from voxline.storage.tables import batch_calls, batch_contacts, calls

CONTACTS = 30

__all__ = ["deployment"]


async def _setup(url: str, data_dir: str) -> tuple[str, str]:
    db = Database(url)
    try:
        tenant = await make_tenant(db, "Campaign", credit="1000")
        await orgs.set_concurrency_limit(db, tenant.org_id, 20)
        agent = await insert_agent(db, tenant.org_id)
        await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
        settings = Settings(database_url=url, data_dir=Path(data_dir), secret_key="x")
        config = batches.BatchConfig(
            name="Killed",
            agent_id=agent,
            working_days=[1, 2, 3, 4, 5, 6, 7],
            max_concurrent_calls=10,
            calls_per_second=50,
        )
        contacts = [{"phone_number": f"+1{201 + i}5550100"} for i in range(CONTACTS)]
        new = batches.NewBatch(config, contacts=contacts)
        outcome = await batches.create_batch(db, settings, tenant.org_id, new, idempotency_key=None)
        batch_id = str(outcome.body["id"])
        await batch_lifecycle.schedule(db, tenant.org_id, batch_id, None, None)
        return tenant.org_id, batch_id
    finally:
        await db.dispose()


async def _snapshot(
    url: str, batch_id: str
) -> tuple[str, list[sa.Row[object]], list[sa.Row[object]]]:
    db = Database(url)
    try:
        async with db.read() as conn:
            status = (
                await conn.execute(
                    sa.select(batch_calls.c.status).where(batch_calls.c.id == batch_id)
                )
            ).scalar_one()
            contacts = (
                await conn.execute(
                    sa.select(batch_contacts).where(batch_contacts.c.batch_id == batch_id)
                )
            ).all()
            placed = (
                await conn.execute(sa.select(calls).where(calls.c.batch_contact_id.is_not(None)))
            ).all()
        return str(status), list(contacts), list(placed)
    finally:
        await db.dispose()


def test_a_worker_killed_mid_batch_loses_no_contact_and_dials_nobody_twice(
    deployment: tuple[str, dict[str, str]],
) -> None:
    url, env = deployment
    _org_id, batch_id = asyncio.run(_setup(url, env["VOXLINE_DATA_DIR"]))
    workers = [_start(env, "worker"), _start(env, "worker")]
    try:
        deadline = time.monotonic() + 60
        while len(asyncio.run(_snapshot(url, batch_id))[2]) < 5:
            assert time.monotonic() < deadline, "the batch never started"
            time.sleep(0.2)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
        deadline = time.monotonic() + 120
        while True:
            status, contacts, placed = asyncio.run(_snapshot(url, batch_id))
            if status == "completed":
                break
            assert time.monotonic() < deadline, collections.Counter(c.status for c in contacts)
            time.sleep(0.5)
        workers[1].send_signal(signal.SIGTERM)
        assert workers[1].wait(timeout=60) == 0
    finally:
        for process in workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    assert len(contacts) == CONTACTS
    per_contact = collections.Counter(c.batch_contact_id for c in placed)
    assert sorted(per_contact) == sorted(c.id for c in contacts), "a contact was never called"
    assert max(per_contact.values()) == 1, "a contact was called twice"
    log = Path(env["VOXLINE_DATA_DIR"], "sandbox", "placements.log").read_text().split()
    assert max(collections.Counter(log).values()) == 1, "a call was dialed twice"
    calls_by_id = {c.id: c for c in placed}
    for contact in contacts:
        call = calls_by_id[contact.last_call_id]
        assert call.finalized_at is not None
        assert contact.status == call.status, (contact.status, call.status, call.end_reason)
        assert contact.attempts == 1
