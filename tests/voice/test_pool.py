"""The bounded model-work pool."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from voxline.voice import pool


async def test_work_runs_off_the_event_loop_thread() -> None:
    loop_thread = threading.get_ident()

    worker_thread = await pool.run(threading.get_ident)

    assert worker_thread != loop_thread


async def test_no_more_jobs_run_at_once_than_the_pool_has_workers() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def job() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    await asyncio.gather(*(pool.run(job) for _ in range(6)))

    assert peak == pool.workers()


async def test_keyword_arguments_reach_the_function() -> None:
    assert await pool.run(int, "ff", base=16) == 255


def test_size_defaults_to_at_most_two() -> None:
    assert 1 <= pool.default_workers() <= 2


async def test_size_cannot_change_once_running() -> None:
    await pool.run(int)  # make sure the pool exists
    assert pool.configure(pool.workers()) == pool.workers()
    with pytest.raises(RuntimeError):
        pool.configure(pool.workers() + 1)
    with pytest.raises(ValueError):
        pool.configure(0)
