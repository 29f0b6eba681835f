"""One 20 ms media clock for every live call of an event loop.

Each live audio call sends the contact one agent frame every 20 ms. A clock of its own per
call (a task sleeping to its next frame) costs the event loop a timer per call per frame:
~7 µs of CPU per call per frame at 300 calls, against ~3 µs for one clock that ticks every
20 ms and wakes the calls waiting for that tick (``bench/audio_profile.py``, "the event
loop's cost of N calls' 20 ms clocks"; ``bench/README.md``). :class:`MediaTicker` is that
one clock; :func:`shared_ticker` gives the one of the running event loop and time source, so
every session of a process shares it.

Contract:

- A call :meth:`~MediaTicker.join`\\ s (its tick count so far), then awaits
  :meth:`~MediaTicker.wait` once per frame and :meth:`~MediaTicker.leave`\\ s when it ends. The
  ticker's task runs while it has members and is cancelled when the last one leaves.
- Tick ``n`` is due at the ticker's start plus ``n`` periods (:meth:`~MediaTicker.due`), as a
  per-call clock's schedule was, so a late loop catches up rather than drifting. A call
  that fell behind (it was busy over one or more ticks) gets its missed ticks back at once,
  one per ``wait``, as the per-call clock's ``sleep(0)`` did: no frame is skipped.
- A call joining a running ticker sends its first frame at once and then follows the shared
  ticks: its frames move by less than one frame (20 ms) against a clock of its own.
- Time and sleeping come from the ``clock``/``sleep`` given, so a
  :class:`voxline.testing.VirtualClock` drives it in tests exactly as the session's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from voxline.voice.frames import FRAME_MS

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class MediaTicker:
    """A 20 ms clock shared by the calls of one event loop (see the module's contract)."""

    def __init__(
        self,
        clock: Clock,
        sleep: Sleep,
        period: float = FRAME_MS / 1000,
        on_idle: Callable[[MediaTicker], None] | None = None,
    ) -> None:
        self.period = period
        self.ticks = 0
        self._started_at = 0.0
        self._clock = clock
        self._sleep = sleep
        self._members = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self._on_idle = on_idle

    @property
    def members(self) -> int:
        """Calls following this ticker."""
        return self._members

    @property
    def running(self) -> bool:
        return self._task is not None

    def due(self, tick: int) -> float:
        """When tick number ``tick`` is scheduled, on the ticker's clock (how late a call's
        frame is: its clock's time after ``wait`` minus this)."""
        return self._started_at + tick * self.period

    def join(self) -> int:
        """Follow the ticker (starting it if it was idle); returns the ticks so far, the
        ``seen`` of the first :meth:`wait`."""
        self._members += 1
        if self._task is None:
            self._started_at = self._clock() - self.ticks * self.period
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self.ticks

    def leave(self) -> None:
        """Stop following; the last member to leave stops the ticker."""
        if self._members <= 0:
            raise RuntimeError("leave() without join()")
        self._members -= 1
        if self._members == 0 and self._task is not None:
            self._task.cancel()
            self._task = None
            if self._on_idle is not None:
                self._on_idle(self)

    async def wait(self, seen: int) -> int:
        """Wait for the tick after ``seen`` (at once, after yielding, if it has passed);
        returns its number, the next call's ``seen``."""
        if self.ticks > seen:
            await self._sleep(0.0)  # behind: catch up, but let the loop run in between
            return seen + 1
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter
        return seen + 1

    async def _run(self) -> None:
        while True:
            due = self.due(self.ticks + 1)
            await self._sleep(max(0.0, due - self._clock()))
            self.ticks += 1
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():  # a call cancelled while waiting left its future
                    waiter.set_result(None)


_shared: dict[tuple[asyncio.AbstractEventLoop, Clock, Sleep], MediaTicker] = {}


def shared_ticker(clock: Clock, sleep: Sleep) -> MediaTicker:
    """The ticker of the running event loop on this time source (one per loop and clock:
    every session of a process, or of one virtual clock in a test, shares it). It is
    forgotten once idle, so an ended loop keeps nothing alive."""
    key = (asyncio.get_running_loop(), clock, sleep)
    ticker = _shared.get(key)
    if ticker is None:

        def forget(idle: MediaTicker) -> None:
            if _shared.get(key) is idle:
                del _shared[key]

        ticker = _shared[key] = MediaTicker(clock, sleep, on_idle=forget)
    return ticker
