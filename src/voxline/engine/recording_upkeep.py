"""The engine's recording upkeep loop: spooled uploads retried, old recordings pruned.

Every ``VOXLINE_RECORDINGS_UPKEEP_SECONDS`` (and once at start) it runs
:func:`voxline.services.recording_retention.recording_upkeep`. Several workers may run it at
once: deleting a recording twice, or clearing a location twice, is harmless, and each host
uploads only its own spool directory.
"""

from __future__ import annotations

import asyncio
import contextlib

from voxline.config import Settings
from voxline.logging import get_logger
from voxline.services.recording_retention import recording_upkeep
from voxline.storage.db import Database

__all__ = ["RecordingUpkeep"]

log = get_logger("engine.recording_upkeep")


class RecordingUpkeep:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.interval = settings.recordings_upkeep_seconds

    async def run(self, stop: asyncio.Event) -> None:
        """Run a round, then wait ``interval`` (or until ``stop``), until ``stop`` is set."""
        while not stop.is_set():
            try:
                report = await recording_upkeep(self.db, self.settings)
                if report.deleted or report.uploaded or report.failed:
                    log.info(
                        "recording upkeep",
                        extra={
                            "deleted": report.deleted,
                            "uploaded": report.uploaded,
                            "failed": report.failed,
                        },
                    )
            except Exception:
                log.exception("recording upkeep round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
