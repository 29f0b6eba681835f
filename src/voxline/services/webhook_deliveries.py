"""Webhook deliveries: claiming due ones, recording attempts, the delivery log and replays.

A delivery is one (endpoint, event) pair. It is *pending* until an attempt gets a 2xx
(*delivered*) or its attempts run out (*failed*). Workers claim due pending deliveries of
enabled endpoints with a lease (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has
one engine); a lease that expires (the worker died mid-request) makes the delivery claimable
again, so a delivery is sent at least once and never lost. Replaying sets a delivery pending
again, due at once, with a fresh attempt budget; the event and its id stay the same.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.domain.webhooks import DeliveryStatus, is_failing_too_long, retry_delay
from voxline.errors import NotFound
from voxline.services.webhooks import endpoint_row
from voxline.storage import events as outbox
from voxline.storage.db import Database
from voxline.storage.tables import events, webhook_deliveries, webhook_endpoints
from voxline.storage.types import utcnow

ERROR_MAX = 500


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker holds the lease of, with what sending it needs."""

    id: str
    endpoint_id: str
    attempts: int
    event_id: str
    event_type: str
    call_id: str | None
    seq: int | None
    payload: dict[str, Any]
    event_created_at: datetime
    endpoint: Any  # the endpoint's row: url, sealed secrets


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery as the log shows it."""

    id: str
    event_id: str
    event_type: str
    call_id: str | None
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime


async def claim_due(
    db: Database,
    *,
    worker_id: str,
    lease_seconds: float,
    limit: int,
    per_endpoint: int,
    busy: dict[str, int],
) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries, at most ``per_endpoint`` for each endpoint
    counting the ``busy`` ones this worker already sends (endpoint id → in flight)."""
    if limit <= 0:
        return []
    now = utcnow()
    due = sa.and_(
        webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
        webhook_deliveries.c.next_attempt_at <= now,
        sa.or_(
            webhook_deliveries.c.lease_expires_at.is_(None),
            webhook_deliveries.c.lease_expires_at < now,
        ),
        webhook_endpoints.c.enabled.is_(True),
    )
    full = [endpoint for endpoint, n in busy.items() if n >= per_endpoint]
    if full:
        due = sa.and_(due, webhook_deliveries.c.endpoint_id.not_in(full))
    async with db.write() as conn:
        pick = (
            sa.select(webhook_deliveries.c.id, webhook_deliveries.c.endpoint_id)
            .select_from(
                webhook_deliveries.join(
                    webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id
                )
            )
            .where(due)
            .order_by(webhook_deliveries.c.next_attempt_at, webhook_deliveries.c.id)
            .limit(limit * 4)
        )
        if conn.dialect.name != "sqlite":
            pick = pick.with_for_update(of=webhook_deliveries, skip_locked=True)
        taken: list[str] = []
        counts = dict(busy)
        for row in (await conn.execute(pick)).all():
            if counts.get(row.endpoint_id, 0) >= per_endpoint or len(taken) >= limit:
                continue
            counts[row.endpoint_id] = counts.get(row.endpoint_id, 0) + 1
            taken.append(row.id)
        if not taken:
            return []
        await conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id.in_(taken))
            .values(
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )
        rows = (
            await conn.execute(
                sa.select(
                    webhook_deliveries.c.id,
                    webhook_deliveries.c.endpoint_id,
                    webhook_deliveries.c.attempts,
                    events.c.id.label("event_id"),
                    events.c.type,
                    events.c.call_id,
                    events.c.seq,
                    events.c.payload,
                    events.c.created_at,
                )
                .select_from(
                    webhook_deliveries.join(events, events.c.id == webhook_deliveries.c.event_id)
                )
                .where(webhook_deliveries.c.id.in_(taken))
            )
        ).all()
        endpoint_rows = {
            r.id: r
            for r in (
                await conn.execute(
                    sa.select(webhook_endpoints).where(
                        webhook_endpoints.c.id.in_({r.endpoint_id for r in rows})
                    )
                )
            ).all()
        }
    return [
        Claimed(
            id=r.id,
            endpoint_id=r.endpoint_id,
            attempts=r.attempts,
            event_id=r.event_id,
            event_type=r.type,
            call_id=r.call_id,
            seq=r.seq,
            payload=dict(r.payload or {}),
            event_created_at=r.created_at,
            endpoint=endpoint_rows[r.endpoint_id],
        )
        for r in rows
    ]


async def record_attempt(
    db: Database,
    settings: Settings,
    claimed: Claimed,
    *,
    worker_id: str,
    status_code: int | None,
    error: str | None,
    rng: random.Random | None = None,
) -> DeliveryStatus:
    """Record one attempt's outcome: 2xx delivers; 410 fails the delivery and disables the
    endpoint; otherwise the delivery is retried after :func:`retry_delay` until
    ``webhooks_max_attempts``. An endpoint failing for ``webhooks_disable_after_days`` is
    disabled. Nothing is written if this worker's lease was lost (another worker owns the
    delivery now)."""
    now = utcnow()
    attempts = claimed.attempts + 1
    ok = status_code is not None and 200 <= status_code < 300
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": (error or None) and str(error)[:ERROR_MAX],
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    gone = status_code == 410
    if ok:
        status = DeliveryStatus.DELIVERED
        values.update(delivered_at=now, next_attempt_at=None, last_error=None)
    elif gone or attempts >= settings.webhooks_max_attempts:
        status = DeliveryStatus.FAILED
        values["next_attempt_at"] = None
    else:
        status = DeliveryStatus.PENDING
        wait = retry_delay(
            attempts,
            settings.webhooks_retry_base_seconds,
            settings.webhooks_retry_max_seconds,
            rng,
        )
        values["next_attempt_at"] = now + timedelta(seconds=wait)
    values["status"] = status.value
    async with db.write() as conn:
        updated = await conn.execute(
            webhook_deliveries.update()
            .where(
                webhook_deliveries.c.id == claimed.id,
                webhook_deliveries.c.lease_owner == worker_id,
                webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
            )
            .values(**values)
        )
        if updated.rowcount != 1:
            return status
        await _endpoint_health(conn, settings, claimed.endpoint_id, ok=ok, gone=gone, now=now)
    return status


async def _endpoint_health(
    conn: AsyncConnection,
    settings: Settings,
    endpoint_id: str,
    *,
    ok: bool,
    gone: bool,
    now: datetime,
) -> None:
    table = webhook_endpoints
    if ok:
        await conn.execute(
            table.update()
            .where(table.c.id == endpoint_id, table.c.failing_since.is_not(None))
            .values(failing_since=None)
        )
        return
    if gone:
        await conn.execute(
            table.update()
            .where(table.c.id == endpoint_id)
            .values(enabled=False, disabled_reason="gone", updated_at=now)
        )
        return
    await conn.execute(
        table.update()
        .where(table.c.id == endpoint_id, table.c.failing_since.is_(None))
        .values(failing_since=now)
    )
    since = (
        await conn.execute(sa.select(table.c.failing_since).where(table.c.id == endpoint_id))
    ).scalar_one_or_none()
    if is_failing_too_long(since, now, settings.webhooks_disable_after_days):
        await conn.execute(
            table.update()
            .where(table.c.id == endpoint_id)
            .values(enabled=False, disabled_reason="failing", updated_at=now)
        )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        event_type=row.type,
        call_id=row.call_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_LOG_COLUMNS = (
    webhook_deliveries.c.id,
    webhook_deliveries.c.event_id,
    events.c.type,
    events.c.call_id,
    webhook_deliveries.c.status,
    webhook_deliveries.c.attempts,
    webhook_deliveries.c.last_status_code,
    webhook_deliveries.c.last_error,
    webhook_deliveries.c.next_attempt_at,
    webhook_deliveries.c.delivered_at,
    webhook_deliveries.c.created_at,
    webhook_deliveries.c.updated_at,
)


async def list_deliveries(
    db: Database,
    org_id: str,
    endpoint_id: str,
    *,
    status: DeliveryStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[Delivery], int]:
    """The endpoint's deliveries, newest first; 404 for another organization's endpoint."""
    async with db.read() as conn:
        endpoint = await endpoint_row(conn, org_id, endpoint_id)
        where = [webhook_deliveries.c.endpoint_id == endpoint["id"]]
        if status is not None:
            where.append(webhook_deliveries.c.status == status.value)
        total = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(webhook_deliveries).where(*where)
            )
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(*_LOG_COLUMNS)
                .select_from(
                    webhook_deliveries.join(events, events.c.id == webhook_deliveries.c.event_id)
                )
                .where(*where)
                .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return [_delivery(r) for r in rows], int(total)


async def _requeue(conn: AsyncConnection, where: sa.ColumnElement[bool], now: datetime) -> None:
    await conn.execute(
        webhook_deliveries.update()
        .where(where)
        .values(
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )


async def replay_delivery(
    db: Database, org_id: str, endpoint_id: str, delivery_id: str
) -> Delivery:
    """Send a delivery again (same event, same id), due now with a fresh attempt budget."""
    now = utcnow()
    async with db.write() as conn:
        endpoint = await endpoint_row(conn, org_id, endpoint_id)
        try:
            canonical = str(uuid.UUID(delivery_id))
        except ValueError:
            raise NotFound.resource("Delivery") from None
        match = sa.and_(
            webhook_deliveries.c.id == canonical,
            webhook_deliveries.c.endpoint_id == endpoint["id"],
        )
        found = (await conn.execute(sa.select(webhook_deliveries.c.id).where(match))).first()
        if found is None:
            raise NotFound.resource("Delivery", canonical)
        await _requeue(conn, match, now)
        row = (
            await conn.execute(
                sa.select(*_LOG_COLUMNS)
                .select_from(
                    webhook_deliveries.join(events, events.c.id == webhook_deliveries.c.event_id)
                )
                .where(match)
            )
        ).one()
    return _delivery(row)


async def replay_since(db: Database, org_id: str, endpoint_id: str, since: datetime) -> int:
    """Send every event of the organization since ``since`` that the endpoint subscribes to
    again (creating the deliveries it never had); the number of events queued."""
    now = utcnow()
    async with db.write() as conn:
        endpoint = await endpoint_row(conn, org_id, endpoint_id, lock=True)
        types: Collection[str] = list(endpoint["event_types"] or [])
        wanted = (
            await conn.execute(
                sa.select(events.c.id, events.c.type).where(
                    events.c.organization_id == org_id,
                    events.c.created_at >= since,
                    events.c.type.in_(types),
                )
            )
        ).all()
        have = set(
            (
                await conn.execute(
                    sa.select(webhook_deliveries.c.event_id).where(
                        webhook_deliveries.c.endpoint_id == endpoint["id"],
                        webhook_deliveries.c.event_id.in_([w.id for w in wanted]),
                    )
                )
            )
            .scalars()
            .all()
        )
        await _requeue(
            conn,
            sa.and_(
                webhook_deliveries.c.endpoint_id == endpoint["id"],
                webhook_deliveries.c.event_id.in_(list(have)),
            ),
            now,
        )
        for event in wanted:
            if event.id not in have:
                await outbox.fan_out(
                    conn, event.id, org_id, event.type, endpoint_id=endpoint["id"], now=now
                )
    return len(wanted)
