"""Applying what happened to a call: provider events, timers and the engine's own outcomes.

Every change of a call's status goes through :func:`apply_event`: the event becomes a
:class:`voxline.domain.call_changes.CallOccurrence`, and the call store applies it with
:func:`voxline.domain.call_changes.apply`, which asks the one transition table in
``domain.calls``. Applying an event twice, late or out of order is harmless: events the table
does not allow change nothing, and a terminal status is final. The time an event reports is
clamped to the call's life so far, whoever reported it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.call_changes import CallOccurrence
from voxline.domain.calls import CallStatus
from voxline.services.ports import CallStore
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.telephony.base import ProviderEvent


def _parse_at(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _text(value: object) -> str | None:
    return str(value) if value else None


def occurrence_of(event: ProviderEvent) -> CallOccurrence:
    """``event`` in domain terms: ``details`` give the failure message, the provider's error
    code and the time a machine answered (unparseable times are ignored)."""
    return CallOccurrence(
        event=event.event,
        at=event.at,
        provider_call_id=event.provider_call_id,
        answered_by=event.answered_by,
        end_reason=event.end_reason,
        cause=event.cause,
        message=_text(event.details.get("message")),
        provider_code=_text(event.details.get("provider_code")),
        answered_at=_parse_at(event.details.get("answered_at")),
        transfer_to=_text(event.details.get("transfer_to")),
    )


async def apply_event_in(
    conn: AsyncConnection,
    event: ProviderEvent,
    sandbox_time_scale: float = 1.0,
    store: CallStore = CALL_STORE,
) -> CallStatus | None:
    """:func:`apply_event` inside the caller's transaction."""
    return await store.apply_event(
        conn, event.call_id, occurrence_of(event), simulated_time_scale=sandbox_time_scale
    )


async def apply_event(
    db: Database,
    event: ProviderEvent,
    sandbox_time_scale: float = 1.0,
    store: CallStore = CALL_STORE,
) -> CallStatus | None:
    """Apply ``event`` to its call; returns the new status, or None when nothing changed.

    Calls on a simulated line live in simulated time: their join and duration deadlines
    shrink with ``sandbox_time_scale`` like every other sandbox delay.
    """
    async with db.write() as conn:
        return await apply_event_in(conn, event, sandbox_time_scale, store)
