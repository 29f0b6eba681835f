"""Per-organization request limits: a fixed one-minute window.

On SQLite (one process serves everything) the counters live in memory. On PostgreSQL every
API process shares them through an upsert on ``rate_limit_windows``, so the limit holds for
the deployment, not per process.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from voxline.errors import RateLimited
from voxline.storage.db import Database
from voxline.storage.tables import rate_limit_windows

WINDOW_SECONDS = 60


class RateLimiter(Protocol):
    async def hit(self, org_id: str) -> None:
        """Count one request; raise :class:`RateLimited` when over the limit."""


def _window(now: float) -> tuple[float, float]:
    start = now - (now % WINDOW_SECONDS)
    return start, start + WINDOW_SECONDS


def _reject(limit: int, now: float, reset: float) -> RateLimited:
    reset_at = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return RateLimited(limit, reset_at, retry_after=max(1, math.ceil(reset - now)))


class Unlimited:
    async def hit(self, org_id: str) -> None:
        return None


class MemoryRateLimiter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = asyncio.Lock()

    async def hit(self, org_id: str) -> None:
        now = time.time()
        start, reset = _window(now)
        async with self._lock:
            window, count = self._counts.get(org_id, (start, 0))
            if window != start:
                count = 0
                if len(self._counts) > 10_000:
                    self._counts = {k: v for k, v in self._counts.items() if v[0] == start}
            count += 1
            self._counts[org_id] = (start, count)
        if count > self.limit:
            raise _reject(self.limit, now, reset)


class DatabaseRateLimiter:
    """Shared counters for PostgreSQL deployments."""

    def __init__(self, db: Database, limit: int) -> None:
        self.db = db
        self.limit = limit

    async def hit(self, org_id: str) -> None:
        now = time.time()
        start, reset = _window(now)
        window_start = datetime.fromtimestamp(start, UTC)
        statement = (
            pg_insert(rate_limit_windows)
            .values(organization_id=org_id, window_start=window_start, count=1)
            .on_conflict_do_update(
                index_elements=["organization_id", "window_start"],
                set_={"count": rate_limit_windows.c.count + 1},
            )
            .returning(rate_limit_windows.c.count)
        )
        async with self.db.write() as conn:
            count = (await conn.execute(statement)).scalar_one()
            if count == 1:
                # First hit of a window: drop this organization's finished windows.
                await conn.execute(
                    sa.delete(rate_limit_windows).where(
                        rate_limit_windows.c.organization_id == org_id,
                        rate_limit_windows.c.window_start < window_start - timedelta(minutes=1),
                    )
                )
        if count > self.limit:
            raise _reject(self.limit, now, reset)


def create_rate_limiter(db: Database, limit: int) -> RateLimiter:
    if limit <= 0:
        return Unlimited()
    if db.is_sqlite:
        return MemoryRateLimiter(limit)
    return DatabaseRateLimiter(db, limit)
