"""Event-loop lag: how late the loop wakes a task that asked to sleep.

Every live call's media clock ticks on the event loop (a frame each 20 ms), so anything that
holds the loop (a blocking call, a long garbage collection, too many calls for one core)
shows up here first, before callers hear it. The watcher sleeps ``interval`` seconds again
and again and observes each overshoot; the cost is one timer per interval.
"""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

__all__ = ["DEFAULT_INTERVAL", "watch_loop_lag"]

DEFAULT_INTERVAL = 0.5


async def watch_loop_lag(lag: Histogram, interval: float = DEFAULT_INTERVAL) -> None:
    """Observe the loop's lag into ``lag`` every ``interval`` seconds until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        lag.observe(max(0.0, loop.time() - asked))
