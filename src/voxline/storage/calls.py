"""The call store: the one module that writes the ``calls`` table.

Every INSERT, UPDATE and DELETE of ``calls`` lives here (Alembic migrations aside; a test in
``tests/storage`` enforces it): creating calls, PATCHes and deletions, status transitions,
placement claims and leases, session outcomes, finalization and the provider-recording
schedule. Use cases and engine loops reach it through the
:class:`voxline.services.ports.CallStore` port.

Every method runs inside the caller's transaction (``conn`` from ``Database.write()``), so a
use case can change a call together with other tables and commit once. A status change is
:func:`voxline.domain.call_changes.apply`: the store reads the call (locked on PostgreSQL),
asks the domain for the change and persists exactly that.

Events (:mod:`voxline.storage.events`, the outbox) are written here too, in the same
transaction as the change they report: ``call.queued`` (or ``call.ringing`` for an inbound
call) when a call is created, ``call.ringing`` and ``call.started`` when it enters those
statuses, and ``call.ended`` then ``call.analyzed`` when it is finalized (exactly once per
call, whatever its outcome: the finalization claim is a conditional update; a call deleted
before it was finalized gets its ``call.ended`` when it is deleted).

Claims: a claim marks queued calls ``placement_state='dialing'`` with a lease *before* the
provider is asked to dial, in the transaction that checked the organization's concurrency
limit. Each organization's row is locked while its calls are counted and claimed, so two
workers never exceed a limit together; PostgreSQL's ``SKIP LOCKED`` lets them claim different
calls at once. Organizations get a share of each batch each, calls within one first-in
first-out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.call_changes import (
    DEFAULT_JOIN_TIMEOUT_SECONDS,
    DEFAULT_MAX_DURATION_SECONDS,
    CallChange,
    CallOccurrence,
    CallState,
    LeaseChange,
    apply,
    learned_provider_call_id,
)
from voxline.domain.calls import ACTIVE_STATUSES, CallStatus, PlacementStatus
from voxline.domain.lines import SANDBOX, SIMULATED_PROVIDERS, lease_follows_media, time_scale
from voxline.domain.webhooks import EventType
from voxline.storage import events
from voxline.storage.tables import calls, organizations, transcript_turns
from voxline.storage.types import utcnow

_ACTIVE = [s.value for s in ACTIVE_STATUSES]

# The event a call's arrival in a live status writes. Its end writes ``call.ended`` (then
# ``call.analyzed``) once, at finalization, when duration, cost and summary are known: every
# terminal call is finalized exactly once, whatever ended it.
_EVENT_OF_STATUS = {
    CallStatus.QUEUED: EventType.CALL_QUEUED,
    CallStatus.RINGING: EventType.CALL_RINGING,
    CallStatus.IN_PROGRESS: EventType.CALL_STARTED,
}


@dataclass(frozen=True, slots=True)
class ExpiredLease:
    """An active call whose lease expired; ``simulated`` when it runs on a simulated line
    (a call that names no provider counts as one, as when it was claimed)."""

    id: str
    status: CallStatus
    placement_state: PlacementStatus | None
    provider_type: str | None
    provider_call_id: str | None
    lease_expires_at: datetime
    started_at: datetime | None
    created_at: datetime
    simulated: bool


def _where_simulated() -> sa.ColumnElement[bool]:
    return sa.func.coalesce(calls.c.provider_type, SANDBOX).in_(sorted(SIMULATED_PROVIDERS))


def _is_live() -> sa.ColumnElement[bool]:
    """Calls that hold one of their organization's concurrency slots."""
    return sa.or_(
        calls.c.status.in_([CallStatus.RINGING.value, CallStatus.IN_PROGRESS.value]),
        sa.and_(calls.c.status == CallStatus.QUEUED.value, calls.c.placement_state.is_not(None)),
    )


def _is_due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        calls.c.status == CallStatus.QUEUED.value,
        calls.c.placement_state.is_(None),
        sa.or_(calls.c.not_before.is_(None), calls.c.not_before <= now),
    )


def _needs_recovery() -> sa.ColumnElement[bool]:
    """Active calls recovery acts on once their lease expired: a claim never confirmed, a
    simulated call (its conversation lived in the worker), a carrier call whose media host
    stopped. A carrier call that is placed but not yet hosted has no one to renew its
    lease; its join and max_duration deadlines end it, so recovery leaves it out."""
    simulated = _where_simulated()
    return sa.or_(
        sa.and_(
            calls.c.status == CallStatus.QUEUED.value,
            calls.c.placement_state == PlacementStatus.DIALING.value,
        ),
        sa.and_(simulated, calls.c.placement_state.is_not(None)),
        sa.and_(sa.not_(simulated), calls.c.status == CallStatus.IN_PROGRESS.value),
    )


def call_state(row: sa.Row[Any], simulated_time_scale: float) -> CallState:
    """What :func:`voxline.domain.call_changes.apply` needs to know of the call in ``row``."""
    settings: Mapping[str, Any] = row.settings or {}
    return CallState(
        status=CallStatus(row.status),
        created_at=row.created_at,
        started_at=row.started_at,
        provider_call_id=row.provider_call_id,
        context=dict(row.context or {}),
        join_timeout_seconds=float(
            settings.get("join_timeout_seconds", DEFAULT_JOIN_TIMEOUT_SECONDS)
        ),
        max_duration_seconds=float(
            settings.get("max_duration_seconds", DEFAULT_MAX_DURATION_SECONDS)
        ),
        time_scale=time_scale(row.provider_type, simulated_time_scale),
        lease_follows_media=lease_follows_media(row.provider_type),
        leaves_voicemail=bool(settings.get("leave_voicemail", False)),
    )


def change_values(change: CallChange) -> dict[str, Any]:
    """The columns ``change`` writes."""
    values: dict[str, Any] = {
        "status": change.status.value,
        "updated_at": change.updated_at,
        "deadline_at": change.deadline_at,
    }
    if change.provider_call_id is not None:
        values["provider_call_id"] = change.provider_call_id
    if change.started_at is not None:
        values["started_at"] = change.started_at
    if change.answered_by is not None:
        values["answered_by"] = change.answered_by.value
    if change.lease is LeaseChange.HAND_OVER:
        values["lease_owner"] = None
    if change.lease is not LeaseChange.KEEP:
        values["lease_expires_at"] = None
    if change.ends_call:
        values["ended_at"] = change.ended_at
        values["end_reason"] = change.end_reason.value if change.end_reason else None
        values["context"] = dict(change.context or {})
    return values


class SqlCallStore:
    """The call store on the SQLAlchemy tables (SQLite and PostgreSQL)."""

    async def insert(self, conn: AsyncConnection, values: Mapping[str, Any]) -> None:
        await conn.execute(calls.insert().values(**values))
        first = _EVENT_OF_STATUS.get(CallStatus(values["status"]))
        if first is not None:
            await events.append_call_event(conn, str(values["id"]), first)

    async def edit(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        context: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if context is not None:
            values["context"] = dict(context)
        if settings is not None:
            values["settings"] = dict(settings)
        await conn.execute(calls.update().where(calls.c.id == call_id).values(**values))

    async def delete(self, conn: AsyncConnection, call_ids: Sequence[str]) -> None:
        ids = list(call_ids)
        # A call deleted before the finalizer reached it still gets its one call.ended.
        unfinalized = (
            await conn.execute(
                sa.select(calls.c.id)
                .where(calls.c.id.in_(ids), calls.c.finalized_at.is_(None))
                .order_by(calls.c.id)
            )
        ).scalars()
        for call_id in list(unfinalized):
            await events.append_call_event(conn, call_id, EventType.CALL_ENDED)
        # The foreign key cascades too; deleting turns explicitly does not depend on it.
        await conn.execute(transcript_turns.delete().where(transcript_turns.c.call_id.in_(ids)))
        await conn.execute(calls.delete().where(calls.c.id.in_(ids)))

    async def _lock(self, conn: AsyncConnection, call_id: str) -> sa.Row[Any] | None:
        query = sa.select(calls).where(calls.c.id == call_id)
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        return (await conn.execute(query)).first()

    async def apply_event(
        self,
        conn: AsyncConnection,
        call_id: str,
        occurrence: CallOccurrence,
        *,
        simulated_time_scale: float,
    ) -> CallStatus | None:
        row = await self._lock(conn, call_id)
        if row is None:
            return None
        state = call_state(row, simulated_time_scale)
        change = apply(state, occurrence, utcnow())
        if change is None:
            learned = learned_provider_call_id(state, occurrence)
            if learned is not None:
                await conn.execute(
                    calls.update().where(calls.c.id == row.id).values(provider_call_id=learned)
                )
            return None
        await conn.execute(
            calls.update().where(calls.c.id == row.id).values(**change_values(change))
        )
        reported = _EVENT_OF_STATUS.get(change.status)
        if reported is not None and change.status is not state.status:
            await events.append_call_event(conn, row.id, reported)
        return change.status

    async def save_session_outcome(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        recording_path: str | None,
        metrics: Mapping[str, Any],
    ) -> None:
        values: dict[str, Any] = {"metrics": dict(metrics), "updated_at": utcnow()}
        if recording_path is not None:
            values["recording_path"] = recording_path
        await conn.execute(calls.update().where(calls.c.id == call_id).values(**values))

    async def record_dtmf(self, conn: AsyncConnection, call_id: str, digit: str) -> None:
        row = (await conn.execute(sa.select(calls.c.context).where(calls.c.id == call_id))).first()
        if row is None:
            return
        context = dict(row.context or {})
        context["dtmf"] = str(context.get("dtmf", "")) + digit
        await conn.execute(
            calls.update().where(calls.c.id == call_id).values(context=context, updated_at=utcnow())
        )

    async def claim_due(
        self,
        conn: AsyncConnection,
        *,
        worker_id: str,
        lease_seconds: float,
        default_limit: int,
        batch: int,
        only_call_id: str | None = None,
    ) -> list[sa.Row[Any]]:
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
        claimed: list[sa.Row[Any]] = []
        for org_id in org_ids:
            claimed += await self._claim_for_org(
                conn, org_id, due, now, worker_id, lease_seconds, default_limit, share
            )
        return claimed

    async def _claim_for_org(
        self,
        conn: AsyncConnection,
        org_id: str,
        due: sa.ColumnElement[bool],
        now: datetime,
        worker_id: str,
        lease_seconds: float,
        default_limit: int,
        share: int,
    ) -> list[sa.Row[Any]]:
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
        rows = list((await conn.execute(pick)).all())
        if not rows:
            return []
        await conn.execute(
            calls.update()
            .where(calls.c.id.in_([r.id for r in rows]))
            .values(
                placement_state=PlacementStatus.DIALING.value,
                lease_owner=worker_id,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=calls.c.attempts + 1,
                updated_at=now,
            )
        )
        return rows

    async def mark_placed(
        self,
        conn: AsyncConnection,
        call_id: str,
        provider_call_id: str,
        *,
        lease_seconds: float,
        join_deadline_seconds: float,
    ) -> None:
        now = utcnow()
        await conn.execute(
            calls.update()
            .where(calls.c.id == call_id)
            .values(
                placement_state=PlacementStatus.PLACED.value,
                provider_call_id=sa.func.coalesce(calls.c.provider_call_id, provider_call_id),
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )
        await conn.execute(
            calls.update()
            .where(
                calls.c.id == call_id,
                calls.c.status == CallStatus.QUEUED.value,
                calls.c.deadline_at.is_(None),
            )
            .values(deadline_at=now + timedelta(seconds=join_deadline_seconds))
        )

    async def release_for_retry(
        self, conn: AsyncConnection, call_id: str, delay_seconds: float, error: str
    ) -> None:
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
        self, conn: AsyncConnection, worker_id: str, call_ids: Sequence[str], lease_seconds: float
    ) -> None:
        if not call_ids:
            return
        now = utcnow()
        await conn.execute(
            calls.update()
            .where(calls.c.id.in_(list(call_ids)), calls.c.status.in_(_ACTIVE))
            .values(lease_owner=worker_id, lease_expires_at=now + timedelta(seconds=lease_seconds))
        )

    async def expired_leases(self, conn: AsyncConnection, limit: int) -> list[ExpiredLease]:
        simulated = _where_simulated().label("simulated")
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
                    simulated,
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
                PlacementStatus(r.placement_state) if r.placement_state else None,
                r.provider_type,
                r.provider_call_id,
                r.lease_expires_at,
                r.started_at,
                r.created_at,
                bool(r.simulated),
            )
            for r in rows
        ]

    async def requeue_unplaced(self, conn: AsyncConnection, call_id: str) -> bool:
        result = await conn.execute(
            calls.update()
            .where(
                calls.c.id == call_id,
                calls.c.status == CallStatus.QUEUED.value,
                calls.c.placement_state == PlacementStatus.DIALING.value,
                calls.c.lease_expires_at < utcnow(),
            )
            .values(placement_state=None, lease_owner=None, lease_expires_at=None)
        )
        return bool(result.rowcount)

    async def claim_finalization(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        now: datetime,
        recording_due: datetime | None,
        duration_seconds: int,
        cost_micros: int,
        summary: str,
    ) -> bool:
        claimed = await conn.execute(
            calls.update()
            .where(calls.c.id == call_id, calls.c.finalized_at.is_(None))
            .values(
                finalized_at=now,
                provider_recording_due_at=recording_due,
                duration_seconds=duration_seconds,
                cost_micros=cost_micros,
                summary=summary,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=utcnow(),
            )
        )
        if claimed.rowcount != 1:
            return False
        await events.append_call_event(conn, call_id, EventType.CALL_ENDED)
        await events.append_call_event(conn, call_id, EventType.CALL_ANALYZED)
        return True

    async def note_uncollected(self, conn: AsyncConnection, call_id: str, amount: str) -> None:
        current = (
            await conn.execute(sa.select(calls.c.context).where(calls.c.id == call_id))
        ).scalar_one()
        context = {**(current or {}), "uncollected_usd": amount}
        await conn.execute(calls.update().where(calls.c.id == call_id).values(context=context))

    async def claim_recording_attempt(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        seen_due: datetime,
        seen_attempts: int | None,
        next_due: datetime | None,
        attempts: int,
        now: datetime,
    ) -> bool:
        claimed = await conn.execute(
            calls.update()
            .where(
                calls.c.id == call_id,
                calls.c.provider_recording_due_at == seen_due,
                calls.c.provider_recording_attempts == seen_attempts,
            )
            .values(
                provider_recording_due_at=next_due,
                provider_recording_attempts=attempts,
                updated_at=now,
            )
        )
        return claimed.rowcount == 1

    async def cache_recording_url(self, conn: AsyncConnection, call_id: str, url: str) -> None:
        await conn.execute(
            calls.update()
            .where(calls.c.id == call_id, calls.c.provider_recording_url.is_(None))
            .values(provider_recording_url=url, provider_recording_due_at=None, updated_at=utcnow())
        )

    async def forget_recordings(self, conn: AsyncConnection, locations: Sequence[str]) -> None:
        now = utcnow()
        for start in range(0, len(locations), _FORGET_BATCH):
            await conn.execute(
                calls.update()
                .where(calls.c.recording_path.in_(locations[start : start + _FORGET_BATCH]))
                .values(
                    recording_path=None,
                    provider_recording_due_at=None,
                    recording_pruned_at=now,
                    updated_at=now,
                )
            )

    async def keep_recording(self, conn: AsyncConnection, call_id: str, location: str) -> None:
        await conn.execute(
            calls.update()
            .where(calls.c.id == call_id, calls.c.recording_path.is_(None))
            .values(recording_path=location, updated_at=utcnow())
        )


# Locations per UPDATE when recordings are forgotten (bounded IN lists).
_FORGET_BATCH = 500


CALL_STORE = SqlCallStore()
"""The store every use case and engine loop writes calls through unless given another."""
