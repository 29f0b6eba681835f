"""One 20 ms media clock for every live call of an event loop, its calls spread over the
period.

Each live audio call sends the contact one agent frame every 20 ms. A clock of its own per
call (a task sleeping to its next frame) costs the event loop a timer per call per frame:
~7 µs of CPU per call per frame at 300 calls, against ~3 µs for one clock that ticks every
20 ms and wakes the calls waiting for that tick (``bench/audio_profile.py``, "the event
loop's cost of N calls' 20 ms clocks"; ``bench/README.md``). :class:`MediaTicker` is that
one clock; :func:`shared_ticker` gives the one of the running event loop and time source, so
every session of a process shares it.

Waking every call on the same tick makes the loop do all of the calls' frames in one burst
per period, and the last call of the burst is late by all of it (150 calls: ~100 ms stalls
with the loop a quarter idle). So the period can be cut into ``phases`` slots (sessions
take the ``media_phases`` setting, 1 by default): each call is seated in the slot with the
fewest calls when it joins and keeps it, and each slot's calls are woken at their own time.
A call's frames stay a period apart; with four slots the loop does a quarter of the work
four times per period.

Contract:

- A call :meth:`~MediaTicker.join`\\ s (a :class:`Seat`: its slot and the ticks it saw),
  awaits :meth:`Seat.wait` once per frame and :meth:`Seat.leave`\\ s when it ends. The
  ticker's task runs while it has members and is cancelled when the last one leaves.
- Tick ``n`` of slot ``p`` is due at the ticker's start plus ``n`` periods less ``p``
  slots (:meth:`Seat.due`), so a late loop catches up rather than drifting. A call that
  fell behind (it was busy over one or more of its ticks) gets its missed ticks back at
  once, one per ``wait``: no frame is skipped.
- A call joining a running ticker sends its first frame at once and then follows its slot's
  ticks: its frames move by less than one frame (20 ms) against a clock of its own.
- Every call of a slot awaits the same future for its next tick, so a tick costs one
  wake-up per call and no future per call. A call's task cancelled while it waits ends when
  that tick comes (within one period), not at once: the shared tick refuses the cancellation
  that would otherwise reach every call of the slot.
- Time and sleeping come from the ``clock``/``sleep`` given, so a
  :class:`voxline.testing.VirtualClock` drives it in tests exactly as the session's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from voxline.voice.frames import FRAME_MS

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

# Slots per period of the shared ticker by default (sessions take the media_phases setting).
# More slots make smaller bursts but smaller VAD batches (voice.vad_batch scores the windows
# of one loop turn together): at 100 audio calls four 5 ms slots cost about a quarter more
# CPU than one tick for no gain in frame lateness measured on the wall clock; at 300 calls in
# 40 ms blocks, with a batch's results woken a few listeners per loop turn, 2 or 4 slots kept
# the frames on time more often than one (bench/README.md).
PHASES = 1


class _Tick(asyncio.Future[None]):
    """One slot's next tick, a single future every call of the slot awaits (one wake-up
    callback each, and no future per call per frame).

    Cancelling a call's task cancels the future it awaits: this one is shared, so it refuses
    (``cancel`` returns False) and asyncio cancels the task at its next step instead, when
    the tick comes (within one period), rather than waking every other call of the slot
    with the cancellation."""

    def cancel(self, msg: Any | None = None) -> bool:
        return False


class Seat:
    """One call's place on a :class:`MediaTicker`: its slot (``phase``) and the number of
    its slot's ticks it has seen."""

    __slots__ = ("phase", "seen", "ticker")

    def __init__(self, ticker: MediaTicker, phase: int, seen: int) -> None:
        self.ticker = ticker
        self.phase = phase
        self.seen = seen

    async def wait(self) -> int:
        """Wait for this slot's tick after the last one seen (at once, after yielding, if it
        has passed); returns its number."""
        # The ticker's side of it inline: one coroutine per call per frame, not two.
        ticker = self.ticker
        phase = self.phase
        if ticker._ticks(phase) > self.seen:
            await ticker._sleep(0.0)  # behind: catch up, but let the loop run in between
        else:
            tick = ticker._next[phase]
            if tick is None:
                tick = ticker._next[phase] = _Tick(loop=asyncio.get_running_loop())
            await tick
        self.seen += 1
        return self.seen

    def due(self, tick: int | None = None) -> float:
        """When this slot's tick number ``tick`` (by default the last one seen) was
        scheduled, on the ticker's clock: how late a frame is, is the clock's time after
        :meth:`wait` minus this."""
        return self.ticker._due(self.phase, self.seen if tick is None else tick)

    def leave(self) -> None:
        """Stop following; the last member to leave stops the ticker."""
        self.ticker._leave(self)


class MediaTicker:
    """A 20 ms clock shared by the calls of one event loop, woken in ``phases`` slots (see
    the module's contract)."""

    def __init__(
        self,
        clock: Clock,
        sleep: Sleep,
        period: float = FRAME_MS / 1000,
        on_idle: Callable[[MediaTicker], None] | None = None,
        phases: int = 1,
    ) -> None:
        if phases < 1:
            raise ValueError("a ticker needs at least one phase")
        self.period = period
        self.phases = phases
        self._slot = period / phases
        self._slots = 0  # slot ticks since the start (phase p's ticks are slot ticks -p mod P)
        self._started_at = 0.0
        self._clock = clock
        self._sleep = sleep
        self._seated = [0] * phases
        # Each slot's next tick, made by its first waiter: every call of the slot awaits it.
        self._next: list[_Tick | None] = [None] * phases
        self._task: asyncio.Task[None] | None = None
        self._on_idle = on_idle

    @property
    def members(self) -> int:
        """Calls following this ticker."""
        return sum(self._seated)

    @property
    def running(self) -> bool:
        return self._task is not None

    def seated(self, phase: int) -> int:
        """Calls following the ticker in slot ``phase``."""
        return self._seated[phase]

    def join(self) -> Seat:
        """Follow the ticker (starting it if it was idle), in the slot with the fewest calls."""
        phase = min(range(self.phases), key=self._seated.__getitem__)
        self._seated[phase] += 1
        if self._task is None:
            self._started_at = self._clock() - self._slots * self._slot
            self._task = asyncio.get_running_loop().create_task(self._run())
        return Seat(self, phase, self._ticks(phase))

    # Internals (the Seat's methods).

    def _ticks(self, phase: int) -> int:
        """Ticks of slot ``phase`` so far: slot ticks k >= 1 with k = n * phases - phase."""
        return (self._slots + phase) // self.phases

    def _due(self, phase: int, tick: int) -> float:
        return self._started_at + tick * self.period - phase * self._slot

    def _leave(self, seat: Seat) -> None:
        if self._seated[seat.phase] <= 0:
            raise RuntimeError("leave() without join()")
        self._seated[seat.phase] -= 1
        if self.members == 0 and self._task is not None:
            self._task.cancel()
            self._task = None
            if self._on_idle is not None:
                self._on_idle(self)

    async def _run(self) -> None:
        try:
            while True:
                due = self._started_at + (self._slots + 1) * self._slot
                await self._sleep(max(0.0, due - self._clock()))
                self._slots += 1
                phase = -self._slots % self.phases
                tick = self._next[phase]
                if tick is not None:
                    self._next[phase] = None
                    tick.set_result(None)
        except asyncio.CancelledError:
            # Cancelled from outside with calls still waiting (their loop is shutting down):
            # wake them, so that those being cancelled see it (see _Tick). Stopped by the
            # last call leaving, it has none, and a new task may already serve new ones.
            if self._task is asyncio.current_task():
                for phase, tick in enumerate(self._next):
                    self._next[phase] = None
                    if tick is not None:
                        tick.set_result(None)
            raise


_shared: dict[tuple[asyncio.AbstractEventLoop, Clock, Sleep, int, float], MediaTicker] = {}


def shared_ticker(
    clock: Clock, sleep: Sleep, phases: int = PHASES, period: float = FRAME_MS / 1000
) -> MediaTicker:
    """The ticker of the running event loop on this time source (one per loop, clock, number
    of slots and period: every session of a process, or of one virtual clock in a test,
    shares it; sessions handling 40 ms blocks share one of 40 ms). It is forgotten once
    idle, so an ended loop keeps nothing alive."""
    key = (asyncio.get_running_loop(), clock, sleep, phases, period)
    ticker = _shared.get(key)
    if ticker is None:

        def forget(idle: MediaTicker) -> None:
            if _shared.get(key) is idle:
                del _shared[key]

        ticker = _shared[key] = MediaTicker(clock, sleep, period, on_idle=forget, phases=phases)
    return ticker
