"""The one bounded executor per process for CPU-heavy model work.

Transcription (~0.4 core-seconds per turn) and neural synthesis must never run on the event
loop, and running more of them at once than there are cores only makes every one of them
slower (``reference/voice-stack.md`` §3: four concurrent transcriptions on two cores take over
a second each). So all such work queues on one small thread pool; the models release the GIL
while they compute, and each is pinned to one intra-op thread, so N workers use about N cores.

Cheap per-frame work (VAD at 0.1 ms per window, μ-law, streaming resampling) stays inline:
a hop through the pool would cost more than the work and would queue behind a transcription.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_size: int | None = None


def default_workers() -> int:
    """min(2, number of CPUs): the measured sweet spot for one small host."""
    return max(1, min(2, os.cpu_count() or 1))


def configure(workers: int | None = None) -> int:
    """Fix the pool's size before first use (``None`` → :func:`default_workers`).

    Returns the size in force. Once the pool exists its size can no longer change; asking
    for a different size then raises ``RuntimeError`` rather than silently ignoring it.
    """
    global _size
    wanted = workers if workers is not None else default_workers()
    if wanted < 1:
        raise ValueError("the voice pool needs at least one worker")
    with _lock:
        if _pool is not None and wanted != _size:
            raise RuntimeError(f"voice pool already running with {_size} workers")
        _size = wanted
        return wanted


def workers() -> int:
    """The pool's size (the configured one, else the default)."""
    return _size if _size is not None else default_workers()


def executor() -> ThreadPoolExecutor:
    """The process's model-work executor, created on first use."""
    global _pool, _size
    with _lock:
        if _pool is None:
            _size = _size if _size is not None else default_workers()
            _pool = ThreadPoolExecutor(max_workers=_size, thread_name_prefix="voxline-voice")
        return _pool


async def run(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run ``func`` on the pool and await its result.

    Cancelling the awaiting task does not interrupt a job already running (model calls
    cannot be interrupted); its result is dropped when it finishes.
    """
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor(), functools.partial(func, *args, **kwargs))


def shutdown() -> None:
    """Stop the pool (waiting for running jobs); the next use starts a fresh one."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)
