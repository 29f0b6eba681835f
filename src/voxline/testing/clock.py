"""Simulated time for a voice session: sleeping advances the clock, not the wall clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar

_T = TypeVar("_T")

# Loop turns given to runnable tasks before time moves on: every fake completes its work
# within a few turns, so when this many pass without a wake-up, everyone is waiting.
_SETTLE_TURNS = 20
# Real 1 ms pauses allowed while nobody sleeps before the run counts as a deadlock.
_STUCK_ROUNDS = 500


class VirtualClock:
    """A clock whose :meth:`sleep` returns once simulated time reaches its deadline.

    :meth:`run` drives a coroutine: it lets every runnable task run, then jumps to the next
    sleeper's deadline. Nothing waits in real time, and the order of events depends only on
    the code, never on the machine's speed or load.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), wake))
        await wake

    async def run(self, main: Awaitable[_T], *, limit_seconds: float = 3600.0) -> _T:
        """Await ``main`` in simulated time; TimeoutError past ``limit_seconds`` of it."""
        task = asyncio.ensure_future(main)
        stuck = 0
        try:
            while not task.done():
                for _ in range(_SETTLE_TURNS):
                    await asyncio.sleep(0)
                    if task.done():
                        break
                else:
                    if self._advance(limit_seconds):
                        stuck = 0
                        continue
                    # Nobody sleeps: something waits on real work (a thread); give it a moment.
                    stuck += 1
                    if stuck > _STUCK_ROUNDS:
                        raise RuntimeError("every task waits and none sleeps: a deadlock")
                    await asyncio.sleep(0.001)
            return task.result()
        finally:
            if not task.done():
                task.cancel()

    def _advance(self, limit_seconds: float) -> bool:
        """Wake the next sleeper; False when nobody sleeps."""
        while self._sleepers:
            when, _, wake = heapq.heappop(self._sleepers)
            if wake.cancelled():
                continue
            if when > limit_seconds:
                raise TimeoutError(f"still running after {limit_seconds:g} simulated seconds")
            self._now = max(self._now, when)
            wake.set_result(None)
            return True
        return False
