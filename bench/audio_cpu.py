"""CPU per call-second of N audio calls' media path, the event loop's thread and the whole
process apart (``python -m bench.audio_cpu``).

Runs, in this process, N calls of exactly the capacity host's per-frame path
(``bench.capacity_host.CallMedia``: codec, resampling, the barge-in gate's echo canceller,
the batched Silero VAD, playback, recorder), every call's frame of a tick gathered on the
loop as the shared media ticker wakes them, ticks back to back (no waiting for the clock).
After ``--warm-up`` seconds of call (past the echo canceller's fast start) it measures
``--seconds`` of call in CPU time, which does not advance while the process waits for a
core, so the machine's load inflates it less than wall time:

- **process**: ``time.process_time`` per call-second (every thread: the loop's and, with
  the VAD on its own thread, the model's);
- **loop thread**: ``time.thread_time`` of the event loop's thread per call-second, the
  figure that bounds how many calls one loop holds in real time;
- **wall per tick**: how long one tick of every call's frame took on the wall clock (it
  must stay under 20 ms; the machine's load inflates it).

The configurations given run one after the other in one process, alternated ``--rounds``
times (A/B/A/B) to cancel the machine's drift.

``--driver`` says how the calls' frames are run: ``gather`` (the default, as before) makes a
task per call per tick (``asyncio.gather``); ``ticker`` runs each call as one long-lived task
following a ``voxline.voice.ticker.MediaTicker``, as ``CallSession``'s media clock does, on a
time source whose 20 ms "sleep" lasts until every call has done its frame of the tick (ticks
back to back still). ``--gc`` says what the process does with its garbage collector first:
``as-is`` (nothing, as before) or ``worker`` (``voxline.cli.freeze_startup_heap``, what
``voxline worker`` and ``voxline serve`` do before serving: collect, freeze the start-up
heap, and whatever collection policy they set). The garbage collections of the measured
window are counted and timed by generation (``gc.callbacks``; wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.capacity_host import CONTACT_SIGNAL, CallMedia, _test_signal
from voxline.voice.audio import pcm16_to_mulaw
from voxline.voice.ticker import MediaTicker
from voxline.voice.vad import StreamingVad
from voxline.voice.vad_batch import SileroBatch

FRAMES_PER_SECOND = 50

# name -> the SileroBatch's keyword arguments
CONFIGS: dict[str, dict[str, Any]] = {
    "inline": {"threaded": False},
    "thread": {"threaded": True},
}


class GcMeter:
    """Garbage collections by generation, their number and wall time, while ``open``."""

    def __init__(self) -> None:
        self.open = False
        self.count = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __enter__(self) -> GcMeter:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.open:
            generation = info["generation"]
            self.count[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._started


class Pace:
    """Time for the bench's ``MediaTicker``: its 20 ms sleep lasts until every call has done
    its frame of the tick, so ticks come back to back, and the CPU clocks are read at the
    start of every tick."""

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.now = 0.0
        self.ticks = 0
        self.marks: dict[int, tuple[float, float, float]] = {}
        self.on_tick: Callable[[int], None] = lambda tick: None
        self._left = 0
        self._all_done: asyncio.Future[None] | None = None

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:  # a call catching up
            await asyncio.sleep(0)
            return
        if self._left:
            self._all_done = asyncio.get_running_loop().create_future()
            await self._all_done
        self.now += seconds
        self.ticks += 1
        self._left = self.calls
        self.marks[self.ticks] = (time.process_time(), time.thread_time(), time.perf_counter())
        self.on_tick(self.ticks)

    def frame_done(self) -> None:
        self._left -= 1
        if not self._left and self._all_done is not None:
            self._all_done.set_result(None)
            self._all_done = None


async def _follow(call: CallMedia, ticker: MediaTicker, pace: Pace, frames: int) -> None:
    """One call as a session's media clock runs it: a frame per tick of the shared ticker."""
    seat = ticker.join()
    try:
        while seat.seen < frames:
            await seat.wait()
            await call.frame()
            pace.frame_done()
    finally:
        seat.leave()


async def _run(
    calls: int, warm_up: float, seconds: float, config: str, driver: str, meter: GcMeter
) -> dict[str, float]:
    batch = SileroBatch(**CONFIGS[config])
    contact = pcm16_to_mulaw(_test_signal(8000, pitch=140.0, **CONTACT_SIGNAL))
    agent = _test_signal(16000, 5.0, 210.0)
    warm_ticks = int(warm_up * FRAMES_PER_SECOND)
    ticks = int(seconds * FRAMES_PER_SECOND)
    with tempfile.TemporaryDirectory() as directory:
        media = [
            CallMedia(StreamingVad(batch.stream()), Path(directory), f"c{n}", contact, agent)
            for n in range(calls)
        ]
        for n, call in enumerate(media):
            call.index = 37 * n  # calls out of step with each other, as real ones are
            call.agent_after = 7 * n % 125  # and not all speaking first on the same tick
        if driver == "ticker":
            pace = Pace(calls)
            # Tick k's work is done when tick k + 1 starts: measure ticks W + 1 .. W + M.
            first, last = warm_ticks + 1, warm_ticks + ticks + 1
            runs, windows = 0, 0

            def on_tick(tick: int) -> None:
                nonlocal runs, windows
                if tick == first:
                    runs, windows = batch.runs, batch.windows
                    meter.open = True
                elif tick == last:
                    meter.open = False

            pace.on_tick = on_tick
            ticker = MediaTicker(pace.clock, pace.sleep)
            await asyncio.gather(*(_follow(call, ticker, pace, last) for call in media))
            (p0, t0, w0), (p1, t1, w1) = pace.marks[first], pace.marks[last]
            process, thread, wall = p1 - p0, t1 - t0, w1 - w0
        else:
            for _ in range(warm_ticks):
                await asyncio.gather(*(call.frame() for call in media))
            runs, windows = batch.runs, batch.windows
            meter.open = True
            process, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
            for _ in range(ticks):
                await asyncio.gather(*(call.frame() for call in media))
            process = time.process_time() - process
            thread = time.thread_time() - thread
            wall = time.perf_counter() - wall
            meter.open = False
        for call in media:
            call.close()
    batch.close()
    call_seconds = calls * seconds
    return {
        "process_ms_per_call_second": process / call_seconds * 1000,
        "loop_ms_per_call_second": thread / call_seconds * 1000,
        "wall_ms_per_tick": wall / ticks * 1000,
        "windows_per_model_call": (batch.windows - windows) / max(1, batch.runs - runs),
    }


def _measured(
    calls: int, warm_up: float, seconds: float, config: str, driver: str, gc_policy: str
) -> dict[str, float]:
    """One run in a fresh event loop, with the collector as ``gc_policy`` says, and put back
    as it was afterwards (the next configuration of the process starts alike)."""
    threshold = gc.get_threshold()
    if gc_policy == "worker":
        from voxline.cli import freeze_startup_heap

        freeze_startup_heap()
    try:
        with GcMeter() as meter:
            figures = asyncio.run(_run(calls, warm_up, seconds, config, driver, meter))
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    for generation in range(3):
        figures[f"gc{generation}_per_second"] = meter.count[generation] / seconds
        figures[f"gc{generation}_ms_per_second"] = meter.seconds[generation] / seconds * 1000
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds of call")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of call measured")
    parser.add_argument("--configs", default="inline,thread", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--driver", choices=["gather", "ticker"], default="gather")
    parser.add_argument("--gc", choices=["as-is", "worker"], default="as-is")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for config in args.configs.split(","):
            figures = _measured(
                args.calls, args.warm_up, args.seconds, config, args.driver, args.gc
            )
            results.append(
                {"calls": args.calls, "config": config, "driver": args.driver, "gc": args.gc}
                | {"round": round_}
                | figures
            )
            collections = ", ".join(
                f"gen{g} {figures[f'gc{g}_per_second']:.0f}/s "
                f"{figures[f'gc{g}_ms_per_second']:.1f} ms/s"
                for g in range(3)
            )
            print(
                f"{args.calls} calls, {config}: CPU per call-second "
                f"{figures['process_ms_per_call_second']:.2f} ms process, "
                f"{figures['loop_ms_per_call_second']:.2f} ms loop thread; "
                f"{figures['wall_ms_per_tick']:.1f} ms wall per tick; "
                f"{figures['windows_per_model_call']:.0f} windows per model call; "
                f"collections {collections}",
                flush=True,
            )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
