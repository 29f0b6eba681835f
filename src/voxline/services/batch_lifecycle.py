"""The lifecycle of a batch call: schedule, pause, resume, cancel and delete.

Each is one transition of :mod:`voxline.domain.batches` on the batch row, locked for the
transaction (so a scheduler round, which takes the same lock, either finished before or
starts after), with the batch's events written in that transaction. Repeating an action
changes nothing; an action the table forbids is a 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.batches import (
    DELETABLE_STATUSES,
    WAITING_CONTACT_STATUSES,
    BatchAction,
    BatchStatus,
    ContactStatus,
    resume_action,
    transition,
)
from voxline.domain.calling_window import zone
from voxline.errors import Conflict, ValidationFailed
from voxline.services.batch_records import Batch, counters, parse_id, read_batch, set_status
from voxline.services.batches import active_agent, found_batch, number_pool, require_status
from voxline.storage.db import Database
from voxline.storage.tables import batch_calls
from voxline.storage.tables import batch_contacts as table
from voxline.storage.types import utcnow


async def _act(
    conn: AsyncConnection, row: sa.RowMapping, action: BatchAction, **values: Any
) -> BatchStatus:
    step = transition(BatchStatus(row["status"]), action)
    if step is None:
        raise Conflict(
            f"A {row['status']} batch cannot be {action.value.split('_')[0]}d",
            {"status": row["status"], "action": action.value},
        )
    if step.changed:
        await set_status(conn, row, step.status, utcnow(), **values)
    return step.status


async def schedule(
    db: Database, org_id: str, batch_id: str, scheduled_at: datetime | None, timezone: str | None
) -> Batch:
    """Schedule a draft batch to start at ``scheduled_at`` (when omitted: the start it was
    created with, else now). 422 when the agent is not active, the pool has no number or the
    batch has no contact."""
    if timezone is not None:
        zone(timezone)
    async with db.write() as conn:
        row = await found_batch(conn, org_id, batch_id, lock=True)
        if BatchStatus(row["status"]) is BatchStatus.DRAFT:
            await active_agent(conn, org_id, row["agent_id"])
            await number_pool(conn, org_id, row["agent_id"], row["phone_number_ids"])
            counted = (await counters(conn, [row["id"]]))[row["id"]]
            if counted.total_contacts == 0:
                raise ValidationFailed(
                    "The batch has no contacts", {"field": "contacts", "reason": "no_contacts"}
                )
        # Omitted: the start the batch was created with, else now.
        start = scheduled_at or row["scheduled_at"] or utcnow()
        values: dict[str, Any] = {"scheduled_at": start}
        if timezone is not None:
            values["timezone"] = timezone
        await _act(conn, row, BatchAction.SCHEDULE, **values)
        return await read_batch(conn, await found_batch(conn, org_id, batch_id))


async def pause(db: Database, org_id: str, batch_id: str) -> Batch:
    """Hold the calls not yet placed; calls under way finish (idempotent)."""
    async with db.write() as conn:
        row = await found_batch(conn, org_id, batch_id, lock=True)
        await _act(conn, row, BatchAction.PAUSE, paused_at=utcnow())
        return await read_batch(conn, await found_batch(conn, org_id, batch_id))


async def resume(db: Database, org_id: str, batch_id: str) -> Batch:
    """Back to ``scheduled`` while the start is ahead, else ``active`` (idempotent)."""
    async with db.write() as conn:
        row = await found_batch(conn, org_id, batch_id, lock=True)
        action = resume_action(row["scheduled_at"], utcnow())
        await _act(conn, row, action, resumed_at=utcnow())
        return await read_batch(conn, await found_batch(conn, org_id, batch_id))


async def cancel(db: Database, org_id: str, batch_id: str) -> Batch:
    """Stop the batch: contacts still waiting become ``cancelled``; calls under way finish
    and are not retried (idempotent)."""
    async with db.write() as conn:
        row = await found_batch(conn, org_id, batch_id, lock=True)
        status = await _act(conn, row, BatchAction.CANCEL)
        if status is BatchStatus.CANCELLED:
            await cancel_waiting(conn, row["id"])
        return await read_batch(conn, await found_batch(conn, org_id, batch_id))


async def cancel_waiting(conn: AsyncConnection, batch_id: str) -> None:
    await conn.execute(
        table.update()
        .where(
            table.c.batch_id == batch_id,
            table.c.status.in_([s.value for s in WAITING_CONTACT_STATUSES]),
        )
        .values(status=ContactStatus.CANCELLED.value, updated_at=utcnow())
    )


async def delete_batch(db: Database, org_id: str, batch_id: str) -> str:
    """Delete a draft, failed or cancelled batch and its contacts; 409 otherwise."""
    async with db.write() as conn:
        row = await found_batch(conn, org_id, batch_id, lock=True)
        require_status(row, DELETABLE_STATUSES, "deleted")
        await _delete(conn, [row["id"]])
    return str(row["id"])


async def bulk_delete(
    db: Database, org_id: str, batch_ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Delete the deletable batches among ``batch_ids`` in one transaction: ``(deleted,
    failed)``; unknown, other organizations' and running ones are failed."""
    wanted = list(dict.fromkeys(b for b in map(parse_id, batch_ids) if b))
    async with db.write() as conn:
        query = sa.select(batch_calls.c.id, batch_calls.c.status).where(
            batch_calls.c.organization_id == org_id, batch_calls.c.id.in_(wanted)
        )
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        rows = (await conn.execute(query)).all() if wanted else []
        deletable = [r.id for r in rows if BatchStatus(r.status) in DELETABLE_STATUSES]
        if deletable:
            await _delete(conn, deletable)
    deleted = set(deletable)
    failed = [b for b in dict.fromkeys(batch_ids) if parse_id(b) not in deleted]
    return deletable, failed


async def _delete(conn: AsyncConnection, ids: list[str]) -> None:
    await conn.execute(table.delete().where(table.c.batch_id.in_(ids)))
    await conn.execute(batch_calls.delete().where(batch_calls.c.id.in_(ids)))
