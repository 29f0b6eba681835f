"""Claiming queued calls for placement, at most once, within each organization's limit.

A claim marks the call ``placement_state='dialing'`` with a lease *before* the provider is
asked to dial, in the same transaction that checked the limit. Each organization's row is
locked while its calls are counted and claimed, so two workers never exceed a limit together;
PostgreSQL's ``SKIP LOCKED`` lets them claim different calls at once. Organizations are served
round-robin (a share of each batch each), calls within one first-in first-out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.calls import ACTIVE_STATUSES, CallStatus
from voxline.services.call_records import CallSettings
from voxline.storage.db import Database
from voxline.storage.tables import calls, organizations
from voxline.storage.types import utcnow


class Placement:
    """Values of ``calls.placement_state``."""

    DIALING = "dialing"
    PLACED = "placed"


@dataclass(frozen=True, slots=True)
class ClaimedCall:
    id: str
    org_id: str
    agent_id: str
    to_number: str
    from_number: str
    provider_type: str
    phone_number_id: str | None
    attempts: int
    settings: CallSettings


_ACTIVE = [s.value for s in ACTIVE_STATUSES]


def _is_live() -> sa.ColumnElement[bool]:
    """Calls that hold one of their organization's concurrency slots."""
    return sa.or_(
        calls.c.status.in_([CallStatus.RINGING.value, CallStatus.IN_PROGRESS.value]),
        sa.and_(calls.c.status == CallStatus.QUEUED.value, calls.c.placement_state.is_not(None)),
    )


def _is_due(now: Any) -> sa.ColumnElement[bool]:
    return sa.and_(
        calls.c.status == CallStatus.QUEUED.value,
        calls.c.placement_state.is_(None),
        sa.or_(calls.c.not_before.is_(None), calls.c.not_before <= now),
    )


async def claim_due_calls(
    db: Database,
    *,
    worker_id: str,
    lease_seconds: float,
    default_limit: int,
    batch: int = 50,
    only_call_id: str | None = None,
) -> list[ClaimedCall]:
    """Claim up to ``batch`` due calls (or just ``only_call_id``) for this worker."""
    async with db.write() as conn:
        now = utcnow()
        due = _is_due(now)
        if only_call_id is not None:
            due = sa.and_(due, calls.c.id == only_call_id)
        org_ids = sorted(
            (await conn.execute(sa.select(calls.c.organization_id).where(due).distinct()))
            .scalars()
            .all()
        )
        if not org_ids:
            return []
        share = max(1, math.ceil(batch / len(org_ids)))
        claimed: list[ClaimedCall] = []
        for org_id in org_ids:
            claimed += await _claim_for_org(
                conn, org_id, due, now, worker_id, lease_seconds, default_limit, share
            )
        return claimed


async def _claim_for_org(
    conn: AsyncConnection,
    org_id: str,
    due: sa.ColumnElement[bool],
    now: Any,
    worker_id: str,
    lease_seconds: float,
    default_limit: int,
    share: int,
) -> list[ClaimedCall]:
    postgres = conn.dialect.name != "sqlite"
    org_query = sa.select(organizations.c.concurrency_limit).where(organizations.c.id == org_id)
    if postgres:
        org_query = org_query.with_for_update()
    limit = (await conn.execute(org_query)).scalar_one_or_none() or default_limit
    live = (
        await conn.execute(
            sa.select(sa.func.count())
            .select_from(calls)
            .where(calls.c.organization_id == org_id, calls.c.status.in_(_ACTIVE), _is_live())
        )
    ).scalar_one()
    free = min(limit - live, share)
    if free <= 0:
        return []
    pick = (
        sa.select(calls)
        .where(calls.c.organization_id == org_id, due)
        .order_by(calls.c.created_at, calls.c.id)
        .limit(free)
    )
    if postgres:
        pick = pick.with_for_update(skip_locked=True)
    rows = (await conn.execute(pick)).all()
    if not rows:
        return []
    await conn.execute(
        calls.update()
        .where(calls.c.id.in_([r.id for r in rows]))
        .values(
            placement_state=Placement.DIALING,
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=calls.c.attempts + 1,
            updated_at=now,
        )
    )
    return [
        ClaimedCall(
            id=r.id,
            org_id=r.organization_id,
            agent_id=r.agent_id,
            to_number=r.phone_number,
            from_number=r.from_number or "",
            provider_type=r.provider_type or "sandbox",
            phone_number_id=r.phone_number_id,
            attempts=(r.attempts or 0) + 1,
            settings=CallSettings.from_json(r.settings or {}),
        )
        for r in rows
    ]


async def mark_placed(
    db: Database,
    call: ClaimedCall,
    provider_call_id: str,
    lease_seconds: float,
    time_scale: float = 1.0,
) -> None:
    """Record the provider's call id; a call still queued gets a join deadline from now."""
    async with db.write() as conn:
        now = utcnow()
        await conn.execute(
            calls.update()
            .where(calls.c.id == call.id)
            .values(
                placement_state=Placement.PLACED,
                provider_call_id=sa.func.coalesce(calls.c.provider_call_id, provider_call_id),
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )
        await conn.execute(
            calls.update()
            .where(
                calls.c.id == call.id,
                calls.c.status == CallStatus.QUEUED.value,
                calls.c.deadline_at.is_(None),
            )
            .values(
                deadline_at=now
                + timedelta(seconds=(call.settings.join_timeout_seconds + 10) * time_scale)
            )
        )


async def release_for_retry(db: Database, call_id: str, delay_seconds: float, error: str) -> None:
    """Put a claimed call back in the queue after a retryable failure."""
    async with db.write() as conn:
        row = (await conn.execute(sa.select(calls.c.context).where(calls.c.id == call_id))).first()
        context = dict((row.context if row else None) or {})
        context["last_error"] = error
        now = utcnow()
        await conn.execute(
            calls.update()
            .where(calls.c.id == call_id, calls.c.status == CallStatus.QUEUED.value)
            .values(
                placement_state=None,
                lease_owner=None,
                lease_expires_at=None,
                not_before=now + timedelta(seconds=delay_seconds),
                context=context,
                updated_at=now,
            )
        )


async def renew_leases(
    db: Database, worker_id: str, call_ids: list[str], lease_seconds: float
) -> None:
    """Keep the leases of the live calls this worker hosts from expiring: it holds them
    from now on (a provider call is hosted wherever its media stream arrived)."""
    if not call_ids:
        return
    async with db.write() as conn:
        now = utcnow()
        await conn.execute(
            calls.update()
            .where(calls.c.id.in_(call_ids), calls.c.status.in_(_ACTIVE))
            .values(lease_owner=worker_id, lease_expires_at=now + timedelta(seconds=lease_seconds))
        )


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    id: str
    status: CallStatus
    placement_state: str | None
    provider_type: str | None
    provider_call_id: str | None
    lease_expires_at: datetime
    started_at: datetime | None
    created_at: datetime


def _needs_recovery() -> sa.ColumnElement[bool]:
    """Active calls recovery acts on once their lease expired: a claim never confirmed, a
    sandbox call (its conversation lived in the worker), a provider call whose media host
    stopped. A provider call that is placed but not yet hosted has no one to renew its
    lease; its join and max_duration deadlines end it, so recovery leaves it out."""
    sandbox = sa.func.coalesce(calls.c.provider_type, "sandbox") == "sandbox"
    return sa.or_(
        sa.and_(
            calls.c.status == CallStatus.QUEUED.value,
            calls.c.placement_state == Placement.DIALING,
        ),
        sa.and_(sandbox, calls.c.placement_state.is_not(None)),
        # A provider call's lease after the answer is only ever set by its media host.
        sa.and_(sa.not_(sandbox), calls.c.status == CallStatus.IN_PROGRESS.value),
    )


async def expired_leases(db: Database, limit: int = 100) -> list[ExpiredLease]:
    """Active calls whose worker stopped renewing their lease (it died or hung), the
    longest expired first, so no number of them can starve the others."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    calls.c.id,
                    calls.c.status,
                    calls.c.placement_state,
                    calls.c.provider_type,
                    calls.c.provider_call_id,
                    calls.c.lease_expires_at,
                    calls.c.started_at,
                    calls.c.created_at,
                )
                .where(
                    calls.c.status.in_(_ACTIVE),
                    calls.c.lease_expires_at < utcnow(),
                    _needs_recovery(),
                )
                .order_by(calls.c.lease_expires_at, calls.c.id)
                .limit(limit)
            )
        ).all()
    return [
        ExpiredLease(
            r.id,
            CallStatus(r.status),
            r.placement_state,
            r.provider_type,
            r.provider_call_id,
            r.lease_expires_at,
            r.started_at,
            r.created_at,
        )
        for r in rows
    ]


async def requeue_unplaced(db: Database, call_id: str) -> bool:
    """A call whose claim expired and that the provider never dialed goes back in the queue."""
    async with db.write() as conn:
        result = await conn.execute(
            calls.update()
            .where(
                calls.c.id == call_id,
                calls.c.status == CallStatus.QUEUED.value,
                calls.c.placement_state == Placement.DIALING,
                calls.c.lease_expires_at < utcnow(),
            )
            .values(placement_state=None, lease_owner=None, lease_expires_at=None)
        )
    return bool(result.rowcount)
