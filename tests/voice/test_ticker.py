"""The shared 20 ms media ticker, on a virtual clock: every call's frames 20 ms apart, one
sleeping task for all of them, missed ticks made up, and nothing left running."""

from __future__ import annotations

import asyncio

import pytest

from voxline.testing import VirtualClock
from voxline.voice.ticker import MediaTicker, shared_ticker

PERIOD = 0.02


async def follow(ticker: MediaTicker, clock: VirtualClock, frames: int, times: list[float]) -> None:
    """A call's media clock: a frame now, then one per tick."""
    seen = ticker.join()
    try:
        for _ in range(frames):
            times.append(round(clock.now(), 6))
            seen = await ticker.wait(seen)
    finally:
        ticker.leave()


async def test_every_call_gets_a_frame_every_20_ms_from_one_ticker() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)
    first: list[float] = []
    second: list[float] = []

    async def both() -> None:
        await asyncio.gather(
            follow(ticker, clock, 5, first),
            follow(ticker, clock, 3, second),
        )

    await clock.run(both(), limit_seconds=10)
    assert first == [0.0, 0.02, 0.04, 0.06, 0.08]
    assert second == [0.0, 0.02, 0.04]
    assert ticker.members == 0 and not ticker.running  # the last to leave stopped it


async def test_a_call_that_fell_behind_gets_its_missed_ticks_at_once() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)
    times: list[float] = []

    async def busy_call() -> None:
        seen = ticker.join()
        try:
            seen = await ticker.wait(seen)  # 20 ms
            times.append(round(clock.now(), 6))
            await clock.sleep(0.05)  # busy until 70 ms: ticks at 40 and 60 pass
            for _ in range(3):
                seen = await ticker.wait(seen)
                times.append(round(clock.now(), 6))
        finally:
            ticker.leave()

    await clock.run(busy_call(), limit_seconds=10)
    # No frame skipped: two made up at once at 70 ms, then back on the 20 ms grid.
    assert times == [0.02, 0.07, 0.07, 0.08]
    assert [round(ticker.due(tick), 6) for tick in (1, 2, 3, 4)] == [0.02, 0.04, 0.06, 0.08]


async def test_a_call_cancelled_while_waiting_does_not_stop_the_others() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)
    staying: list[float] = []
    leaving: list[float] = []

    async def scenario() -> None:
        stays = asyncio.ensure_future(follow(ticker, clock, 4, staying))
        leaves = asyncio.ensure_future(follow(ticker, clock, 100, leaving))
        await clock.sleep(0.03)
        leaves.cancel()
        with pytest.raises(asyncio.CancelledError):
            await leaves
        assert ticker.members == 1 and ticker.running
        await stays

    await clock.run(scenario(), limit_seconds=10)
    assert staying == [0.0, 0.02, 0.04, 0.06]
    assert leaving == [0.0, 0.02]
    assert not ticker.running


async def test_leaving_without_joining_is_an_error() -> None:
    clock = VirtualClock()
    with pytest.raises(RuntimeError):
        MediaTicker(clock.now, clock.sleep).leave()


async def test_one_shared_ticker_per_loop_and_clock_forgotten_once_idle() -> None:
    clock, other = VirtualClock(), VirtualClock()
    ticker = shared_ticker(clock.now, clock.sleep)
    assert shared_ticker(clock.now, clock.sleep) is ticker
    elsewhere = shared_ticker(other.now, other.sleep)
    assert elsewhere is not ticker
    elsewhere.join()
    elsewhere.leave()
    ticker.join()
    ticker.leave()
    assert shared_ticker(clock.now, clock.sleep) is not ticker  # idle: a fresh one next time
