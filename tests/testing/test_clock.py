"""The virtual clock: sleeping advances simulated time in deadline order, instantly."""

from __future__ import annotations

import asyncio

import pytest

from voxline.testing import VirtualClock


async def test_sleepers_wake_in_deadline_order_at_their_deadlines() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async def main() -> None:
        await asyncio.gather(sleeper("late", 30), sleeper("early", 5), sleeper("middle", 12))

    await clock.run(main())

    assert woke == [("early", 5), ("middle", 12), ("late", 30)]


async def test_an_hour_of_simulated_time_passes_without_waiting() -> None:
    clock = VirtualClock()

    async def main() -> float:
        for _ in range(3600):
            await clock.sleep(1)
        return clock.now()

    assert await clock.run(main()) == 3600


async def test_a_run_past_its_limit_is_a_timeout() -> None:
    clock = VirtualClock()

    async def forever() -> None:
        while True:
            await clock.sleep(10)

    with pytest.raises(TimeoutError):
        await clock.run(forever(), limit_seconds=60)


async def test_waiting_on_nothing_that_sleeps_is_a_deadlock() -> None:
    clock = VirtualClock()
    never: asyncio.Event = asyncio.Event()

    with pytest.raises(RuntimeError, match="deadlock"):
        await clock.run(never.wait())
