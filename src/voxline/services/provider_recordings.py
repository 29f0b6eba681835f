"""The provider's own recording of a call, fetched once the call ended and cached on it.

Voxline records every call it hears itself (``calls.recording_path``). When it has none —
the media stream never connected, say — and the call had recording enabled, the provider's
recording URL is asked for and kept in ``calls.provider_recording_url`` (the seed's
"fetched from the telephony provider and cached on the call record").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from voxline.config import Settings
from voxline.errors import NotFound, ProviderError
from voxline.logging import get_logger
from voxline.services.call_records import CallSettings
from voxline.services.provider_calls import find_provider_call
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow
from voxline.telephony.credentials import ProviderCredentials

log = get_logger("services.provider_recordings")

# Providers publish a recording a little after the call ends.
RETRY_DELAYS = (1.0, 4.0, 10.0)

Fetcher = Callable[[str, ProviderCredentials], Awaitable[str | None]]


async def _wanted(db: Database, call_id: str) -> bool:
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    calls.c.settings, calls.c.recording_path, calls.c.provider_recording_url
                ).where(calls.c.id == call_id)
            )
        ).first()
    if row is None or row.recording_path or row.provider_recording_url:
        return False
    return CallSettings.from_json(row.settings or {}).recording_enabled


async def cache_provider_recording(
    db: Database,
    settings: Settings,
    provider: str,
    call_id: str,
    fetch: Fetcher,
    delays: tuple[float, ...] = RETRY_DELAYS,
) -> str | None:
    """Fetch and cache the provider's recording URL of an ended call; None if there is none."""
    for delay in delays:
        await asyncio.sleep(delay)
        if not await _wanted(db, call_id):
            return None
        try:
            call = await find_provider_call(db, settings, provider, call_id=call_id)
            if call.provider_call_id is None:
                return None
            url = await fetch(call.provider_call_id, call.credentials)
        except (NotFound, ProviderError) as exc:
            log.info(
                "provider recording not available",
                extra={"call_id": call_id, "error": type(exc).__name__},
            )
            continue
        if url:
            async with db.write() as conn:
                await conn.execute(
                    calls.update()
                    .where(calls.c.id == call_id, calls.c.provider_recording_url.is_(None))
                    .values(provider_recording_url=url, updated_at=utcnow())
                )
            return url
    return None
