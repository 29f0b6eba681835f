"""Recording upkeep: retention (old recordings deleted) and spooled uploads retried.

With ``VOXLINE_RECORDINGS_RETENTION_DAYS`` set, :func:`prune_recordings` deletes the
recordings Voxline keeps (files on disk, objects in the bucket) of calls that ended before
the cutoff, and the recordings older than the cutoff that no call points to any more (a call
deleted while its object store was unreachable). Each call whose recording is deleted has
``recording_path`` cleared and ``recording_pruned_at`` set, so its ``recording_url`` is null
and ``GET /calls/{id}/recording`` answers 410 Gone (a call that never had one is 404); its
recording is never asked of the provider again. A provider's own recording
(``provider_recording_url``) lives on the provider and follows the provider's retention.

The engine runs :func:`recording_upkeep` every ``VOXLINE_RECORDINGS_UPKEEP_SECONDS``;
``voxline recordings prune`` runs it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from voxline.config import Settings
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.recordings import S3Recordings, stores_for
from voxline.services.ports import CallStore
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow

__all__ = ["UpkeepReport", "prune_recordings", "recording_upkeep", "upload_spooled"]

log = get_logger("services.recording_retention")

BATCH = 500


@dataclass(frozen=True, slots=True)
class UpkeepReport:
    deleted: int = 0
    uploaded: int = 0
    failed: int = 0


async def prune_recordings(
    db: Database,
    settings: Settings,
    *,
    now: datetime | None = None,
    call_store: CallStore = CALL_STORE,
) -> UpkeepReport:
    """Delete the recordings older than the retention (none when it is unset)."""
    days = settings.recordings_retention_days
    if days is None:
        return UpkeepReport()
    cutoff = (now or utcnow()) - timedelta(days=days)
    stores = stores_for(settings)
    deleted: list[str] = []
    failed = 0
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(calls.c.recording_path)
                .where(calls.c.recording_path.is_not(None), calls.c.ended_at < cutoff)
                .order_by(calls.c.ended_at)
                .limit(BATCH)
            )
        ).all()
    locations = [str(row.recording_path) for row in rows]
    for store in stores.all:
        try:
            locations += await store.older_than(cutoff)
        except (OSError, ProviderError) as exc:
            failed += 1
            log.warning("recordings not listed", extra={"error": str(exc)})
    for location in dict.fromkeys(locations):
        owner = stores.owner(location)
        try:
            if owner is not None:
                await owner.delete(location)
        except (OSError, ProviderError) as exc:
            failed += 1
            log.warning("old recording not deleted", extra={"error": str(exc)})
            continue
        deleted.append(location)
    if deleted:
        async with db.write() as conn:
            await call_store.forget_recordings(conn, deleted)
        log.info("old recordings deleted", extra={"count": len(deleted)})
    return UpkeepReport(deleted=len(deleted), failed=failed)


async def upload_spooled(
    db: Database, settings: Settings, call_store: CallStore = CALL_STORE
) -> UpkeepReport:
    """Upload the spool files left behind (object storage only); a call that crashed before
    keeping its recording's location gets it now."""
    store = stores_for(settings).current
    if not isinstance(store, S3Recordings):
        return UpkeepReport()
    done = await store.upload_spooled()
    if done:
        async with db.write() as conn:
            for location in done:
                call_id = location.rsplit("/", 1)[-1].removesuffix(".wav")
                await call_store.keep_recording(conn, call_id, location)
    return UpkeepReport(uploaded=len(done))


async def recording_upkeep(
    db: Database, settings: Settings, *, now: datetime | None = None
) -> UpkeepReport:
    """Both: spooled uploads first (so a pruned one is not uploaded after), then the prune."""
    uploaded = await upload_spooled(db, settings)
    pruned = await prune_recordings(db, settings, now=now)
    return UpkeepReport(
        deleted=pruned.deleted,
        uploaded=uploaded.uploaded,
        failed=pruned.failed + uploaded.failed,
    )
