"""The shared 20 ms media ticker, on a virtual clock: every call's frames 20 ms apart, one
sleeping task for all of them, calls spread over the period's slots, missed ticks made up,
and nothing left running."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from voxline.testing import VirtualClock
from voxline.voice.ticker import PHASES, MediaTicker, shared_ticker

PERIOD = 0.02


async def follow(ticker: MediaTicker, clock: VirtualClock, frames: int, times: list[float]) -> None:
    """A call's media clock: a frame now, then one per tick of its slot."""
    seat = ticker.join()
    try:
        for _ in range(frames):
            times.append(round(clock.now(), 6))
            await seat.wait()
    finally:
        seat.leave()


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


async def test_calls_are_spread_over_the_slots_each_20_ms_apart() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep, phases=4)
    calls: list[list[float]] = [[] for _ in range(8)]

    async def all_calls() -> None:
        await asyncio.gather(*(follow(ticker, clock, 4, times) for times in calls))

    await clock.run(all_calls(), limit_seconds=10)
    # Two calls per slot; the slots' ticks are 5 ms apart, each call's frames 20 ms apart.
    seconds = sorted({times[1] for times in calls})
    assert seconds == [0.005, 0.01, 0.015, 0.02]
    assert sorted(times[1] for times in calls) == [
        0.005,
        0.005,
        0.01,
        0.01,
        0.015,
        0.015,
        0.02,
        0.02,
    ]
    for times in calls:
        assert times[0] == 0.0  # the first frame at once
        gaps = {round(b - a, 6) for a, b in itertools.pairwise(times[1:])}
        assert gaps == {PERIOD}
    assert not ticker.running


async def test_one_slot_wakes_every_call_on_the_same_tick() -> None:
    # The negative case of the spreading: with one slot, all calls share each tick.
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep, phases=1)
    calls: list[list[float]] = [[] for _ in range(4)]

    async def all_calls() -> None:
        await asyncio.gather(*(follow(ticker, clock, 3, times) for times in calls))

    await clock.run(all_calls(), limit_seconds=10)
    assert all(times == [0.0, 0.02, 0.04] for times in calls)


async def test_a_call_joins_the_slot_with_fewest_calls() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep, phases=4)

    async def scenario() -> None:
        seats = [ticker.join() for _ in range(6)]
        assert [seat.phase for seat in seats] == [0, 1, 2, 3, 0, 1]
        seats[2].leave()
        assert ticker.join().phase == 2  # the emptied slot fills first
        assert [ticker.seated(phase) for phase in range(4)] == [2, 2, 1, 1]

    await clock.run(scenario(), limit_seconds=1)


async def test_a_call_that_fell_behind_gets_its_missed_ticks_at_once() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)
    times: list[float] = []

    async def busy_call() -> None:
        seat = ticker.join()
        try:
            await seat.wait()  # 20 ms
            times.append(round(clock.now(), 6))
            await clock.sleep(0.05)  # busy until 70 ms: ticks at 40 and 60 pass
            for _ in range(3):
                await seat.wait()
                times.append(round(clock.now(), 6))
            assert [round(seat.due(tick), 6) for tick in (1, 2, 3, 4)] == [0.02, 0.04, 0.06, 0.08]
            assert seat.due() == seat.due(4)
        finally:
            seat.leave()

    await clock.run(busy_call(), limit_seconds=10)
    # No frame skipped: two made up at once at 70 ms, then back on the 20 ms grid.
    assert times == [0.02, 0.07, 0.07, 0.08]


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


async def test_leaving_twice_is_an_error() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)

    async def scenario() -> None:
        seat = ticker.join()
        seat.leave()
        with pytest.raises(RuntimeError):
            seat.leave()

    await clock.run(scenario(), limit_seconds=1)


async def test_one_shared_ticker_per_loop_and_clock_forgotten_once_idle() -> None:
    clock, other = VirtualClock(), VirtualClock()
    ticker = shared_ticker(clock.now, clock.sleep)
    assert ticker.phases == PHASES
    assert shared_ticker(clock.now, clock.sleep) is ticker
    elsewhere = shared_ticker(other.now, other.sleep)
    assert elsewhere is not ticker
    elsewhere.join().leave()
    ticker.join().leave()
    assert shared_ticker(clock.now, clock.sleep) is not ticker  # idle: a fresh one next time


async def test_sessions_in_40_ms_blocks_share_a_ticker_of_their_own() -> None:
    clock = VirtualClock()
    frames = shared_ticker(clock.now, clock.sleep)
    blocks = shared_ticker(clock.now, clock.sleep, period=0.04)
    assert blocks is not frames and blocks.period == 0.04 and frames.period == PERIOD
    assert shared_ticker(clock.now, clock.sleep, period=0.04) is blocks
    times: list[float] = []
    await clock.run(follow(blocks, clock, 4, times), limit_seconds=10)
    assert times == [0.0, 0.04, 0.08, 0.12]


async def test_calls_of_a_slot_wait_on_one_tick_and_other_slots_on_their_own() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep, phases=2)
    awaited: list[object] = []

    async def scenario() -> None:
        seats = [ticker.join() for _ in range(4)]  # slots 0, 1, 0, 1
        waits = [asyncio.ensure_future(seat.wait()) for seat in seats]
        await asyncio.sleep(0)
        awaited.extend(wait._fut_waiter for wait in waits)  # type: ignore[attr-defined]
        assert await asyncio.gather(*waits) == [1, 1, 1, 1]
        for seat in seats:
            seat.leave()

    await clock.run(scenario(), limit_seconds=1)
    assert awaited[0] is awaited[2] and awaited[1] is awaited[3]  # one future per slot's tick
    assert awaited[0] is not awaited[1]
    assert not ticker.running


async def test_a_call_cancelled_while_waiting_stops_at_its_tick_and_the_tick_still_comes() -> None:
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)
    stopped: list[float] = []
    staying: list[float] = []

    async def scenario() -> None:
        stays = asyncio.ensure_future(follow(ticker, clock, 3, staying))
        leaves = asyncio.ensure_future(follow(ticker, clock, 100, []))
        await clock.sleep(0.01)  # both wait for the tick at 20 ms
        assert leaves.cancel()
        await asyncio.sleep(0)
        assert not leaves.done()  # the shared tick is not cancelled: the call waits for it
        with pytest.raises(asyncio.CancelledError):
            await leaves
        stopped.append(round(clock.now(), 6))
        await stays

    await clock.run(scenario(), limit_seconds=10)
    assert stopped == [0.02]
    assert staying == [0.0, 0.02, 0.04]  # its slot-mate's cancellation did not reach it
    assert not ticker.running


async def test_a_ticker_stopped_from_outside_wakes_its_waiting_calls() -> None:
    # A loop shutting down cancels every task, the ticker's among them: the calls waiting
    # for its tick must still see their own cancellation rather than wait forever.
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)

    async def scenario() -> None:
        calls = [asyncio.ensure_future(follow(ticker, clock, 100, [])) for _ in range(3)]
        await clock.sleep(0.01)
        task = ticker._task
        assert task is not None
        task.cancel()
        for call in calls:
            call.cancel()
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(result, asyncio.CancelledError) for result in results)

    await clock.run(scenario(), limit_seconds=1)
    assert ticker.members == 0


async def test_a_ticker_stopped_by_its_last_call_leaves_a_new_one_s_tick_alone() -> None:
    # The negative case of the wake-up above: the last call leaving stops the ticker's task,
    # and a call joining before that task has ended gets its tick on time, not at once.
    clock = VirtualClock()
    ticker = MediaTicker(clock.now, clock.sleep)
    times: list[float] = []

    async def scenario() -> None:
        seat = ticker.join()
        await seat.wait()  # the ticker's task now sleeps to its next tick (40 ms)
        seat.leave()  # and is cancelled, not yet ended
        await follow(ticker, clock, 3, times)

    await clock.run(scenario(), limit_seconds=1)
    assert times == [0.02, 0.04, 0.06]


def test_a_ticker_left_running_on_a_closed_loop_is_collected_quietly() -> None:
    # A loop closed with the ticker's task still pending: collecting that task closes its
    # coroutine, which must not try to wake anyone (there is no running loop).
    import gc
    import sys
    import weakref

    unraisable: list[object] = []
    loop = asyncio.new_event_loop()
    ticker = MediaTicker(loop.time, asyncio.sleep)

    async def joined() -> None:
        ticker.join()
        await asyncio.sleep(0.03)

    loop.run_until_complete(joined())
    task = ticker._task
    assert task is not None and not task.done()  # left running, as the loop closes
    coroutine = weakref.ref(task.get_coro())
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        loop.close()
        del task
        ticker._task = None
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert coroutine() is None  # collected: closed, its cleanup run
    assert unraisable == []
