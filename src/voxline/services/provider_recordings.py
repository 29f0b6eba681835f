"""The provider's own recording of a call, fetched after the call ended and cached on it.

Voxline records every call it hears itself (``calls.recording_path``). When it has none —
the media stream never connected, say — and the call had recording enabled, the provider's
recording URL is asked for and kept in ``calls.provider_recording_url`` (the seed's
"fetched from the telephony provider and cached on the call record").

Asking is a step of the finalizer (:class:`~voxline.engine.finalizer.Finalizer`), so it
happens wherever a finalizer runs, whoever received the call's last webhook: finalizing
the call schedules the first question (:func:`first_due`); each round asks the calls that
are due (:func:`due_calls`, :func:`claim_attempt`, :func:`fetch_once`). A provider that has
not published the recording yet is asked again on a later round, at most
``len(RETRY_DELAYS)`` times in all. Each question uses the credentials of the call's own
number.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from voxline.config import Settings
from voxline.errors import NotFound, ProviderError
from voxline.logging import get_logger
from voxline.services.call_records import CallSettings
from voxline.services.provider_calls import find_provider_call
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.telephony.base import ProviderCall

log = get_logger("services.provider_recordings")

# Providers publish a recording a little after the call ends: the seconds before each
# question, counted from the one before (the first from finalization).
RETRY_DELAYS = (1.0, 4.0, 10.0, 30.0)

Fetcher = Callable[[ProviderCall], Awaitable[str | None]]


def wanted(
    settings: dict[str, object] | None, recording_path: str | None, cached_url: str | None
) -> bool:
    """Whether a call needs the provider's recording: it had recording enabled and Voxline
    has no recording of it, its own or the provider's."""
    if recording_path or cached_url:
        return False
    return CallSettings.from_json(settings or {}).recording_enabled


def first_due(now: datetime, delays: tuple[float, ...] = RETRY_DELAYS) -> datetime | None:
    """When to ask first, for a call being finalized (None if no question is allowed)."""
    return now + timedelta(seconds=delays[0]) if delays else None


async def due_calls(db: Database, now: datetime, limit: int = 50) -> list[str]:
    """The calls whose next question is due, the longest waiting first."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(calls.c.id)
            .where(calls.c.provider_recording_due_at <= now)
            .order_by(calls.c.provider_recording_due_at, calls.c.id)
            .limit(limit)
        )
        return [str(call_id) for call_id in rows.scalars()]


async def claim_attempt(
    db: Database, call_id: str, now: datetime, delays: tuple[float, ...] = RETRY_DELAYS
) -> str | None:
    """Take the call's due question for this process: the next one is scheduled (or none,
    after the last) in the same conditional update, so two finalizers never ask the same
    question. Returns the call's provider, or None when the question is not (or no longer)
    to be asked; a call that no longer needs the recording is taken off the schedule."""
    async with db.write() as conn:
        row = (
            await conn.execute(
                sa.select(
                    calls.c.provider_type,
                    calls.c.settings,
                    calls.c.recording_path,
                    calls.c.provider_recording_url,
                    calls.c.provider_recording_due_at,
                    calls.c.provider_recording_attempts,
                ).where(calls.c.id == call_id)
            )
        ).first()
        if row is None or row.provider_recording_due_at is None:
            return None
        if row.provider_recording_due_at > now:
            return None
        attempts = int(row.provider_recording_attempts or 0) + 1
        done = attempts >= len(delays) or not wanted(
            row.settings, row.recording_path, row.provider_recording_url
        )
        next_due = None if done else now + timedelta(seconds=delays[attempts])
        claimed = await CALL_STORE.claim_recording_attempt(
            conn,
            call_id,
            seen_due=row.provider_recording_due_at,
            seen_attempts=row.provider_recording_attempts,
            next_due=next_due,
            attempts=attempts,
            now=now,
        )
        if not claimed:
            return None
    if not wanted(row.settings, row.recording_path, row.provider_recording_url):
        return None
    return str(row.provider_type or "")


async def fetch_once(
    db: Database, settings: Settings, provider: str, call_id: str, fetch: Fetcher
) -> str | None:
    """Ask the call's provider once for its recording URL and cache it; None if it has none
    (yet). Provider failures count as "not yet": a later round asks again."""
    try:
        call = await find_provider_call(db, settings, provider, call_id=call_id)
        if call.provider_call_id is None:
            return None
        url = await fetch(call.ref)
    except (NotFound, ProviderError) as exc:
        log.info(
            "provider recording not available",
            extra={"call_id": call_id, "error": type(exc).__name__},
        )
        return None
    if not url:
        return None
    async with db.write() as conn:
        await CALL_STORE.cache_recording_url(conn, call_id, url)
    log.info("provider recording cached", extra={"call_id": call_id, "provider": provider})
    return url
