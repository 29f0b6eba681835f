"""Waking engine loops when there is work, instead of waiting for their next poll.

In one process an :class:`asyncio.Event` per loop is enough. On PostgreSQL a ``NOTIFY`` on
:data:`CHANNEL` carries the wake-up to every worker (API nodes send it when they create a
call); a slow poll in each loop remains the safety net for a lost notification.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import sqlalchemy as sa

from voxline.logging import get_logger
from voxline.storage.db import Database

log = get_logger("engine.wakeup")

CHANNEL = "voxline_engine"
DISPATCH = "dispatch"
FINALIZE = "finalize"
DELIVER = "deliver"
SCHEDULE = "schedule"  # batch calls have contacts to turn into calls


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {
            DISPATCH: asyncio.Event(),
            FINALIZE: asyncio.Event(),
            DELIVER: asyncio.Event(),
            SCHEDULE: asyncio.Event(),
        }

    def wake(self, topic: str) -> None:
        self._events[topic].set()

    async def wait(self, topic: str, seconds: float) -> None:
        """Until ``topic`` is woken or ``seconds`` pass."""
        event = self._events[topic]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        event.clear()


async def notify(db: Database, topic: str) -> None:
    """Tell every worker of a PostgreSQL deployment that ``topic`` has work."""
    if db.is_sqlite:
        return
    async with db.write() as conn:
        await conn.execute(
            sa.text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic}
        )


async def listen(db: Database, wakeups: Wakeups, stop: asyncio.Event) -> None:
    """Forward ``NOTIFY`` messages to local wake-ups until ``stop`` (PostgreSQL only)."""
    if db.is_sqlite:
        return
    while not stop.is_set():
        try:
            async with db.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection

                def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                    if payload in (DISPATCH, FINALIZE, DELIVER, SCHEDULE):
                        wakeups.wake(payload)

                await driver.add_listener(CHANNEL, on_notify)
                try:
                    await stop.wait()
                finally:
                    with contextlib.suppress(Exception):
                        await driver.remove_listener(CHANNEL, on_notify)
        except Exception:
            log.warning("notification listener lost its connection; reconnecting", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
