"""The outbox: ``events`` rows and their fan-out to ``webhook_deliveries``.

:func:`append` runs inside the transaction of the change an event reports (the call store
calls it), so an event exists if and only if its change was committed. Fan-out happens in the
same transaction: one pending delivery per enabled endpoint of the organization subscribed to
the event's type, due at once. An endpoint created later does not receive older events
(``POST /webhooks/{id}/replay`` sends them).

A call's events are numbered from 1 (``seq``) in the order they were written; the call's row
is locked (PostgreSQL) or the database is (SQLite) while an event is appended, so numbers are
never shared, and ``uq_events_call_id_seq`` would refuse a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.webhooks import DeliveryStatus
from voxline.storage.tables import calls, events, webhook_deliveries, webhook_endpoints
from voxline.storage.types import utcnow

# The columns of a call an event snapshots: what the API's call object is rendered from.
SNAPSHOT_COLUMNS = (
    "id",
    "agent_id",
    "direction",
    "status",
    "phone_number",
    "from_number",
    "variables",
    "context",
    "settings",
    "end_reason",
    "answered_by",
    "summary",
    "recording_path",
    "provider_recording_url",
    "metrics",
    "cost_micros",
    "duration_seconds",
    "started_at",
    "ended_at",
    "created_at",
    "updated_at",
)
SNAPSHOT_TIMES = ("started_at", "ended_at", "created_at", "updated_at")


def _json_safe(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def call_snapshot(conn: AsyncConnection, call_id: str) -> dict[str, Any] | None:
    """The call's columns as they are now in this transaction, JSON-safe, with its
    ``organization_id``."""
    row = (
        await conn.execute(
            sa.select(calls.c.organization_id, *(calls.c[name] for name in SNAPSHOT_COLUMNS)).where(
                calls.c.id == call_id
            )
        )
    ).first()
    if row is None:
        return None
    return {name: _json_safe(value) for name, value in row._mapping.items()}


async def fan_out(
    conn: AsyncConnection,
    event_id: str,
    organization_id: str,
    event_type: str,
    *,
    endpoint_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Create the pending deliveries of an event: to every enabled endpoint subscribed to its
    type, or to ``endpoint_id`` only (subscribed, enabled or not: a disabled endpoint's
    deliveries wait until it is enabled); the number created."""
    now = now or utcnow()
    query = sa.select(webhook_endpoints.c.id, webhook_endpoints.c.event_types).where(
        webhook_endpoints.c.organization_id == organization_id
    )
    if endpoint_id is not None:
        query = query.where(webhook_endpoints.c.id == endpoint_id)
    else:
        query = query.where(webhook_endpoints.c.enabled.is_(True))
    targets = [
        r.id
        for r in (await conn.execute(query)).all()
        if endpoint_id is not None or event_type in (r.event_types or [])
    ]
    if not targets:
        return 0
    await conn.execute(
        webhook_deliveries.insert(),
        [
            dict(
                id=str(uuid.uuid4()),
                endpoint_id=target,
                event_id=event_id,
                organization_id=organization_id,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            for target in targets
        ],
    )
    return len(targets)


async def append(
    conn: AsyncConnection,
    *,
    organization_id: str,
    event_type: str,
    call_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
    only_endpoint_id: str | None = None,
) -> str:
    """Write one event (a call's next ``seq`` when it has a call) and its deliveries; the
    event's id."""
    now = utcnow()
    seq = None
    if call_id is not None:
        last = (
            await conn.execute(
                sa.select(sa.func.max(events.c.seq)).where(events.c.call_id == call_id)
            )
        ).scalar_one()
        seq = (last or 0) + 1
    event_id = str(uuid.uuid4())
    await conn.execute(
        events.insert().values(
            id=event_id,
            organization_id=organization_id,
            call_id=call_id,
            type=event_type,
            seq=seq,
            payload=dict(payload or {}),
            created_at=now,
        )
    )
    await fan_out(
        conn, event_id, organization_id, event_type, endpoint_id=only_endpoint_id, now=now
    )
    return event_id


async def append_call_event(conn: AsyncConnection, call_id: str, event_type: str) -> str | None:
    """An event about a call, carrying a snapshot of the call as this transaction sees it."""
    snapshot = await call_snapshot(conn, call_id)
    if snapshot is None:
        return None
    return await append(
        conn,
        organization_id=snapshot.pop("organization_id"),
        event_type=event_type,
        call_id=call_id,
        payload={"call": snapshot},
    )
