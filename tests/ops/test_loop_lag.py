"""The event-loop lag watcher: a blocked loop shows up in the histogram."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tests.factories import app_for
from voxline.config import Settings
from voxline.ops.loop_lag import watch_loop_lag
from voxline.ops.metrics import Metrics
from voxline.runtime import Runtime
from voxline.storage.db import Database


def observed(metrics: Metrics) -> tuple[float, float]:
    """(count, sum) of the lag histogram."""
    count = metrics.registry.get_sample_value("voxline_event_loop_lag_seconds_count")
    total = metrics.registry.get_sample_value("voxline_event_loop_lag_seconds_sum")
    return count or 0.0, total or 0.0


async def _watch_while(metrics: Metrics, block: float) -> None:
    watcher = asyncio.create_task(watch_loop_lag(metrics.loop_lag, interval=0.005))
    await asyncio.sleep(0.02)
    time.sleep(block)  # noqa: ASYNC251 - holds the loop, as blocking code in a handler would
    await asyncio.sleep(0.02)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher


async def test_a_blocked_loop_is_observed_as_lag() -> None:
    metrics = Metrics(process_collector=False)
    assert observed(metrics) == (0, 0)
    await _watch_while(metrics, block=0.1)
    count, total = observed(metrics)
    assert count >= 3
    assert total >= 0.09
    slow = metrics.registry.get_sample_value(
        "voxline_event_loop_lag_seconds_bucket", {"le": "0.05"}
    )
    assert slow is not None and slow <= count - 1  # the blocked wake-up is above 50 ms


async def test_a_free_loop_shows_no_long_lag() -> None:
    metrics = Metrics(process_collector=False)
    await _watch_while(metrics, block=0)
    count, _ = observed(metrics)
    assert count >= 3
    assert (
        metrics.registry.get_sample_value("voxline_event_loop_lag_seconds_bucket", {"le": "0.25"})
        == count
    )


async def test_the_runtime_watches_the_loop_only_while_it_runs(
    settings: Settings, db: Database
) -> None:
    runtime: Runtime = app_for(settings, db=db).state.runtime
    runtime.loop_lag_interval = 0.005
    async with runtime.running():
        await asyncio.sleep(0.05)
        during, _ = observed(runtime.metrics)
        assert during >= 2
    stopped, _ = observed(runtime.metrics)
    await asyncio.sleep(0.03)
    assert observed(runtime.metrics)[0] == stopped
