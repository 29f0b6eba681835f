"""Batch calls as the services see them: the :class:`Batch` value read from its row, its
counters counted from its contacts, and the batch events written to the outbox.

Counters (``total_contacts, called, completed, failed, pending``) are never stored: they are
counted from ``batch_contacts`` when a batch is read (one grouped query per page of
batches), so they are exact whatever runs concurrently: they are what the committed rows say.

Events go through the webhooks outbox (:func:`voxline.storage.events.append`) in the
transaction of the change they report: ``batch.status.changed`` for every change of status,
then ``batch.completed`` when the batch completed. Each carries ``batch_id``/``batchId``,
``previous_status``, ``status`` and the batch object as that transaction sees it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.batches import BatchCounters, BatchStatus, ContactStatus
from voxline.domain.webhooks import EventType
from voxline.storage import events
from voxline.storage.tables import batch_calls, batch_contacts

DEFAULT_WORKING_DAYS = [1, 2, 3, 4, 5]


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch object (§4.2): every configuration field, then the counters."""

    id: str
    name: str
    status: str
    agent_id: str
    phone_number_ids: list[str]
    phone_rotation_strategy: str
    contact_source: str
    contact_folder_id: str | None
    schedule_type: str
    scheduled_at: datetime | None
    timezone: str
    start_time: str | None
    end_time: str | None
    working_days: list[int]
    max_concurrent_calls: int
    max_calls_per_day: int | None
    retry_failed: bool
    max_retry_attempts: int
    retry_policy: dict[str, Any]
    calls_per_second: float
    total_contacts: int
    called: int
    completed: int
    failed: int
    pending: int
    paused_at: datetime | None
    resumed_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        """The batch as JSON values (times in ISO 8601), with the aliases ``concurrency``
        and ``retry_attempts``."""
        data = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()
        }
        data["concurrency"] = self.max_concurrent_calls
        data["retry_attempts"] = self.max_retry_attempts
        return data


def parse_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


async def counters(conn: AsyncConnection, batch_ids: Sequence[str]) -> dict[str, BatchCounters]:
    """The counters of each batch in ``batch_ids``, counted from its contacts' rows."""
    if not batch_ids:
        return {}
    rows = await conn.execute(
        sa.select(
            batch_contacts.c.batch_id,
            batch_contacts.c.status,
            sa.func.count(),
            sa.func.sum(sa.case((batch_contacts.c.attempts > 0, 1), else_=0)),
        )
        .where(batch_contacts.c.batch_id.in_(list(batch_ids)))
        .group_by(batch_contacts.c.batch_id, batch_contacts.c.status)
    )
    by_status: dict[str, dict[ContactStatus, int]] = {b: {} for b in batch_ids}
    called: dict[str, int] = dict.fromkeys(batch_ids, 0)
    for batch_id, status, count, tried in rows.all():
        by_status[batch_id][ContactStatus(status)] = int(count)
        called[batch_id] += int(tried or 0)
    return {b: BatchCounters.of(by_status[b], called[b]) for b in batch_ids}


def to_batch(row: sa.RowMapping, counted: BatchCounters) -> Batch:
    return Batch(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        agent_id=row["agent_id"],
        phone_number_ids=list(row["phone_number_ids"] or []),
        phone_rotation_strategy=row["phone_rotation_strategy"],
        contact_source=row["contact_source"],
        contact_folder_id=row["contact_folder_id"],
        schedule_type=row["schedule_type"],
        scheduled_at=row["scheduled_at"],
        timezone=row["timezone"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        working_days=list(row["working_days"] or DEFAULT_WORKING_DAYS),
        max_concurrent_calls=row["max_concurrent_calls"],
        max_calls_per_day=row["max_calls_per_day"],
        retry_failed=row["retry_failed"],
        max_retry_attempts=row["max_retry_attempts"],
        retry_policy=dict(row["retry_policy"] or {}),
        calls_per_second=row["calls_per_second"],
        total_contacts=counted.total_contacts,
        called=counted.called,
        completed=counted.completed,
        failed=counted.failed,
        pending=counted.pending,
        paused_at=row["paused_at"],
        resumed_at=row["resumed_at"],
        completed_at=row["completed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def batch_row(
    conn: AsyncConnection, org_id: str, batch_id: str, *, lock: bool = False
) -> sa.RowMapping | None:
    """The organization's batch (locked on PostgreSQL with ``lock``); ``None`` when it
    does not exist or belongs to another organization."""
    wanted = parse_id(batch_id)
    if wanted is None:
        return None
    query = sa.select(batch_calls).where(
        batch_calls.c.id == wanted, batch_calls.c.organization_id == org_id
    )
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return row._mapping if row is not None else None


async def read_batch(conn: AsyncConnection, row: sa.RowMapping) -> Batch:
    counted = await counters(conn, [row["id"]])
    return to_batch(row, counted[row["id"]])


async def status_changed(
    conn: AsyncConnection, org_id: str, batch_id: str, previous: BatchStatus
) -> None:
    """Write ``batch.status.changed`` (and ``batch.completed`` for a completed batch) for
    the batch as this transaction sees it now."""
    row = await batch_row(conn, org_id, batch_id)
    assert row is not None
    batch = await read_batch(conn, row)
    payload = {
        "batch_id": batch.id,
        "batchId": batch.id,
        "previous_status": previous.value,
        "status": batch.status,
        "batch": batch.to_json(),
    }
    await events.append(
        conn,
        organization_id=org_id,
        event_type=EventType.BATCH_STATUS_CHANGED.value,
        payload=payload,
    )
    if batch.status == BatchStatus.COMPLETED:
        await events.append(
            conn,
            organization_id=org_id,
            event_type=EventType.BATCH_COMPLETED.value,
            payload=payload,
        )


async def set_status(
    conn: AsyncConnection,
    row: sa.RowMapping,
    status: BatchStatus,
    now: datetime,
    **values: Any,
) -> None:
    """Move the (locked) batch in ``row`` to ``status`` with ``values`` and write its events."""
    await conn.execute(
        batch_calls.update()
        .where(batch_calls.c.id == row["id"])
        .values(status=status.value, updated_at=now, **values)
    )
    await status_changed(conn, row["organization_id"], row["id"], BatchStatus(row["status"]))
