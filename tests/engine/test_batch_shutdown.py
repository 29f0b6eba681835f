"""A batch call that our own shutdown cut is retried; one the contact finished is not.

The real scheduler places the calls, the real drain path (:func:`end_at_shutdown`) ends one
of them as a stopping worker does, and the real finalizer records both ends on their
contacts; only the carrier is a recorder of hang-ups.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.engine.test_drain import HangUps
from tests.factories import insert_agent, insert_number, make_tenant
from voxline.config import Settings
from voxline.domain.calls import CallEvent, EndReason
from voxline.engine.batches import Scheduler
from voxline.engine.drain import end_at_shutdown
from voxline.engine.finalizer import Finalizer
from voxline.engine.wakeup import Wakeups
from voxline.services import batch_lifecycle, batches
from voxline.services.call_events import apply_event
from voxline.storage.db import Database
from voxline.storage.tables import batch_contacts, calls
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderEvent
from voxline.telephony.registry import ProviderRegistry

TALKERS = ["+12015550100", "+12025550100"]


async def _answer(db: Database, call_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            calls.update()
            .where(calls.c.id == call_id)
            .values(provider_type="sandbox", provider_call_id=f"SBX-{call_id}")
        )
    event = ProviderEvent(call_id=call_id, event=CallEvent.ANSWERED, at=utcnow())
    assert await apply_event(db, event) == "in_progress"


async def _contacts(db: Database, batch_id: str) -> dict[str, tuple[str, str | None, int]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    batch_contacts.c.phone_number,
                    batch_contacts.c.status,
                    batch_contacts.c.last_outcome,
                    batch_contacts.c.attempts,
                ).where(batch_contacts.c.batch_id == batch_id)
            )
        ).all()
    return {r.phone_number: (r.status, r.last_outcome, r.attempts) for r in rows}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_batch_call_ended_by_shutdown_is_retried_as_failed(
    db: Database, settings: Settings
) -> None:
    tenant = await make_tenant(db)
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
    config = batches.BatchConfig(
        name="Drained",
        agent_id=agent,
        working_days=[1, 2, 3, 4, 5, 6, 7],
        retry_policy={"failed": {"max": 1, "delay": 0}},
    )
    new = batches.NewBatch(config, contacts=[{"phone_number": n} for n in TALKERS])
    outcome = await batches.create_batch(db, settings, tenant.org_id, new, idempotency_key=None)
    batch_id = outcome.body["id"]
    await batch_lifecycle.schedule(db, tenant.org_id, batch_id, None, None)
    now = [datetime(2027, 3, 15, 14, 0, tzinfo=UTC)]
    scheduler = Scheduler(db, settings, Wakeups(), clock=lambda: now[0])
    assert await scheduler.run_once() == 2
    async with db.read() as conn:
        placed: dict[str, str] = dict(
            (await conn.execute(sa.select(calls.c.phone_number, calls.c.id))).all()
        )
    cut, finished = placed[TALKERS[0]], placed[TALKERS[1]]
    for call_id in (cut, finished):
        await _answer(db, call_id)

    carrier = HangUps()
    assert await end_at_shutdown(db, settings, ProviderRegistry({"sandbox": carrier}), [cut]) == [
        cut
    ]
    hangup = ProviderEvent(
        call_id=finished, event=CallEvent.HANGUP, at=utcnow(), end_reason=EndReason.CONTACT_HANGUP
    )
    assert await apply_event(db, hangup) == "completed"
    assert await Finalizer(db, settings, Wakeups()).finalize_due() == 2

    async with db.read() as conn:
        ended: dict[str, str] = dict(
            (await conn.execute(sa.select(calls.c.id, calls.c.end_reason))).all()
        )
    assert ended == {cut: "shutdown", finished: "contact_hangup"}
    contacts = await _contacts(db, batch_id)
    assert contacts[TALKERS[0]] == ("scheduled", "failed", 1)
    assert contacts[TALKERS[1]] == ("completed", "completed", 1)

    now[0] = datetime(2027, 3, 15, 14, 1, tzinfo=UTC)
    assert await scheduler.run_once() == 1  # the cut contact only
    async with db.read() as conn:
        again = (
            await conn.execute(
                sa.select(calls.c.phone_number).where(calls.c.id.not_in([cut, finished]))
            )
        ).scalar_one()
    assert again == TALKERS[0]
    assert (await _contacts(db, batch_id))[TALKERS[0]][0] == "calling"
