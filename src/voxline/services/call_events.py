"""Applying what happened to a call: provider events, timers and the engine's own outcomes.

Every change of a call's status goes through :func:`apply_event`, which asks the one
transition table in ``domain.calls``. Applying an event twice, late or out of order is
harmless: events the table does not allow change nothing, and a terminal status is final.

The time an event reports is clamped to the call's life so far (its creation to the moment
the event is applied, :func:`voxline.domain.call_clock.bounded_time`), whoever reported it:
a validly signed provider event with an old or a future time can neither bill years nor
make a call free, nor move its ``max_duration`` deadline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.call_clock import bounded_time
from voxline.domain.calls import (
    AnsweredBy,
    CallEvent,
    CallStatus,
    default_end_reason,
    next_status,
)
from voxline.services.call_records import CallSettings
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderEvent


async def lock_call(conn: AsyncConnection, call_id: str) -> sa.Row[Any] | None:
    """The call row, locked for this transaction on PostgreSQL (SQLite locks the database)."""
    query = sa.select(calls).where(calls.c.id == call_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


def _parse_at(value: object, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return fallback
    return fallback


def transition_values(
    row: sa.Row[Any], event: ProviderEvent, sandbox_time_scale: float = 1.0
) -> dict[str, Any] | None:
    """The column changes ``event`` makes to the call in ``row`` (None: nothing changes).

    Sandbox calls live in simulated time: their join and duration deadlines shrink with
    ``sandbox_time_scale`` like every other sandbox delay.
    """
    current = CallStatus(row.status)
    new = next_status(current, event.event)
    if new is None:
        return None
    settings = CallSettings.from_json(row.settings or {})
    scale = sandbox_time_scale if row.provider_type == "sandbox" else 1.0
    now = utcnow()
    at = bounded_time(event.at, not_before=row.created_at, not_after=now)
    values: dict[str, Any] = {"status": new.value, "updated_at": now}
    if event.provider_call_id and not row.provider_call_id:
        values["provider_call_id"] = event.provider_call_id
    if new is CallStatus.RINGING:
        values["deadline_at"] = at + timedelta(seconds=settings.join_timeout_seconds * scale)
    elif new is CallStatus.IN_PROGRESS:
        values["started_at"] = at
        values["answered_by"] = (event.answered_by or AnsweredBy.HUMAN).value
        values["deadline_at"] = at + timedelta(seconds=settings.max_duration_seconds * scale)
        if row.provider_type != "sandbox":
            # From the answer on, a provider call's lease belongs to the process hosting its
            # media stream (engine/leases.py); until one does, nobody holds it.
            values["lease_owner"] = None
            values["lease_expires_at"] = None
    if new.is_terminal:
        values["ended_at"] = at
        values["deadline_at"] = None
        values["lease_expires_at"] = None
        reason = event.end_reason or default_end_reason(event.event)
        values["end_reason"] = reason.value if reason else None
        if event.answered_by is not None:
            values["answered_by"] = event.answered_by.value
        if new is CallStatus.VOICEMAIL and row.started_at is None:
            answered_at = _parse_at(event.details.get("answered_at"), at)
            values["started_at"] = bounded_time(
                answered_at, not_before=row.created_at, not_after=at
            )
        context: dict[str, Any] = dict(row.context or {})
        if event.cause:
            context["provider_cause"] = event.cause
        if new is CallStatus.FAILED or event.event is CallEvent.FAILED:
            context["last_error"] = event.details.get("message") or event.cause or "call failed"
            if event.details.get("provider_code"):
                context["provider_code"] = event.details["provider_code"]
        values["context"] = context
    return values


async def apply_event_in(
    conn: AsyncConnection, event: ProviderEvent, sandbox_time_scale: float = 1.0
) -> CallStatus | None:
    """:func:`apply_event` inside the caller's transaction."""
    row = await lock_call(conn, event.call_id)
    if row is None:
        return None
    values = transition_values(row, event, sandbox_time_scale)
    if values is None:
        if event.provider_call_id and not row.provider_call_id:
            await conn.execute(
                calls.update()
                .where(calls.c.id == row.id)
                .values(provider_call_id=event.provider_call_id)
            )
        return None
    await conn.execute(calls.update().where(calls.c.id == row.id).values(**values))
    return CallStatus(values["status"])


async def apply_event(
    db: Database, event: ProviderEvent, sandbox_time_scale: float = 1.0
) -> CallStatus | None:
    """Apply ``event`` to its call; returns the new status, or None when nothing changed."""
    async with db.write() as conn:
        return await apply_event_in(conn, event, sandbox_time_scale)
