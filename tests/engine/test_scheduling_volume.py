"""Volume through the running engine: 200 concurrent calls of one organization, each with
its records (status, summary, duration, one ledger entry) and the balance right.

Its sandbox lines run at a twentieth of real time rather than the fiftieth of the other
engine tests: the join deadline of a line is scaled with it, and 300 s at a fiftieth (6 s)
was once shorter than the queue of database writes in front of a call's answer, with four
test workers on two cores (a call ended ``no_answer``)."""

from __future__ import annotations

import asyncio
import collections
from decimal import Decimal

import pytest
import sqlalchemy as sa

from tests.engine.conftest import Phone, money
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.services import billing, orgs
from voxline.storage.db import Database
from voxline.storage.tables import calls, credit_ledger

TIME_SCALE = 0.05


@pytest.fixture
def engine_settings(engine_settings: Settings) -> Settings:
    return engine_settings.model_copy(update={"sandbox_time_scale": TIME_SCALE})


async def test_two_hundred_concurrent_calls_finish_with_correct_records(
    db: Database, engine: Engine, phone: Phone
) -> None:
    await orgs.set_concurrency_limit(db, phone.tenant.org_id, 200)
    await billing.set_balance(db, phone.tenant.org_id, Decimal("100"))
    # The longest join timeout: under this load a scaled 30 s is shorter than the queue of
    # database writes in front of an answer event.
    created = await asyncio.gather(
        *(phone.call("+14155550100", call_settings={"join_timeout": "300s"}) for _ in range(200))
    )
    assert {r.status_code for r in created} == {201}
    ids = [r.json()["data"]["id"] for r in created]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 240
    while True:
        async with db.read() as conn:
            unfinished = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(calls)
                    .where(calls.c.id.in_(ids), calls.c.finalized_at.is_(None))
                )
            ).scalar_one()
        if unfinished == 0:
            break
        assert loop.time() < deadline, f"{unfinished} calls unfinished"
        await asyncio.sleep(0.25)
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(calls).where(calls.c.id.in_(ids)))).all()
        ledger = (
            await conn.execute(sa.select(credit_ledger).where(credit_ledger.c.call_id.in_(ids)))
        ).all()
        balance = await billing.balance(conn, phone.tenant.org_id)
    outcomes = collections.Counter((r.status, r.end_reason) for r in rows)
    assert {status for status, _ in outcomes} == {"completed"}, outcomes
    assert all(r.summary and r.duration_seconds is not None for r in rows)
    assert len(ledger) == 200
    spent = sum((money(r.cost_micros) / 1_000_000 for r in rows), Decimal(0))
    assert Decimal(100) - balance == spent
