"""The scheduler of batch calls: turns each running batch's due contacts into queued calls.

It runs in every worker beside the dispatcher and is woken by the same :class:`Wakeups`
(``SCHEDULE``: a batch was scheduled, resumed or given contacts, a batch call was claimed
by the dispatcher or finalized), with the engine's poll as the safety net. Each round visits
the running batches, least recently touched first, one transaction each
(:func:`voxline.services.batch_runs.place_due`): the batch row is locked with ``SKIP
LOCKED``, so several workers share the batches on PostgreSQL and never queue one contact
twice. The calls it queues are placed by the dispatcher like any other, within the
organization's limit and its fairness; a batch keeps only a few calls waiting unplaced, so
the organization's other calls interleave with it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import datetime

from voxline.config import Settings
from voxline.engine.wakeup import DELIVER, DISPATCH, SCHEDULE, Wakeups
from voxline.logging import get_logger
from voxline.services import batch_runs
from voxline.storage.db import Database
from voxline.storage.types import utcnow

log = get_logger("engine.batches")


class Scheduler:
    """``clock`` gives "now" (a test may pin it); ``rng`` drives ``random`` rotation."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        wakeups: Wakeups,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.wakeups = wakeups
        self.clock = clock
        self.rng = rng or random.Random()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("batch scheduling round failed")
            await self.wakeups.wait(SCHEDULE, self.settings.engine_poll_seconds)

    async def run_once(self) -> int:
        """One round over every running batch; the number of calls queued."""
        now = self.clock()
        async with self.db.read() as conn:
            due = await batch_runs.due_batches(conn, now)
        placed = 0
        for batch_id in due:
            async with self.db.write() as conn:
                result = await batch_runs.place_due(conn, self.settings, batch_id, now, self.rng)
            placed += result.placed
            if result.placed or result.skipped:
                log.info(
                    "batch round",
                    extra={
                        "batch_id": batch_id,
                        "placed": result.placed,
                        "postponed": result.postponed,
                        "skipped": result.skipped,
                    },
                )
        if placed:
            self.wakeups.wake(DISPATCH)
        if due:
            self.wakeups.wake(DELIVER)  # status events (active, completed) may be waiting
        return placed
