"""How bursty N audio calls' frame work is on one event loop, in CPU time
(``python -m bench.audio_burst``).

The capacity benchmark's p99 frame lateness is wall time: on the shared, loaded machine it
measures the other work as much as Voxline (the host process gets half a core and falls
seconds behind at any level). This one runs, in this process, N calls of exactly the
capacity host's per-frame path (``bench.capacity_host.CallMedia``: codec, resampling, the
barge-in gate's echo canceller, the batched Silero VAD, playback, recorder) paced by the
shared media ticker (``voxline.voice.ticker``), and measures in **CPU time of the loop's
thread** (``time.thread_time``, which does not advance while the process waits for a core):

- **burst lateness**: for each frame, the loop's CPU time from the moment its slot's tick
  woke the first call of that slot to the moment this frame's work starts, i.e. the other
  calls' frame work done before it in the same burst (its lateness on an otherwise idle
  core, the ticker's own sleep aside); p50 / p99 / max;
- **CPU per call-second**: the process's CPU time over the measured frames
  (``time.process_time``), per frame done, times 50; and the share of the frames due in the
  window that were done in it (under 100%: the loop fell behind).

Each configuration runs ``--seconds`` of calls after a second of warm-up, one after the
other, in the order given, alternating twice (A/B/A/B) to cancel the machine's drift.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.capacity_host import CONTACT_SIGNAL, CallMedia, _test_signal
from voxline.voice.audio import pcm16_to_mulaw
from voxline.voice.ticker import shared_ticker
from voxline.voice.vad import StreamingVad
from voxline.voice.vad_batch import SileroBatch

WARM_UP_SECONDS = 3.0  # past the echo canceller's fast start (the agent's first 2 s)


async def _run(
    calls: int, seconds: float, phases: int, gate: bool, vad_thread: bool = True
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    batch = SileroBatch(threaded=vad_thread)
    contact = pcm16_to_mulaw(_test_signal(8000, pitch=140.0, **CONTACT_SIGNAL))
    agent = _test_signal(16000, 5.0, 210.0)
    ticker = shared_ticker(loop.time, asyncio.sleep, phases)
    first_of_burst: dict[tuple[int, int], float] = {}
    lateness: list[float] = []
    wall: list[float] = []
    measuring = False
    spent = loop_spent = 0.0
    done = 0
    with tempfile.TemporaryDirectory() as directory:
        media = [
            CallMedia(
                StreamingVad(batch.stream()),
                Path(directory),
                f"call{n}",
                contact,
                agent,
                gate=gate,
            )
            for n in range(calls)
        ]
        for n, call in enumerate(media):
            call.index = 37 * n  # calls out of step with each other, as real ones are

        async def follow(call: CallMedia, frames: int) -> None:
            nonlocal done
            seat = ticker.join()
            try:
                for _ in range(frames):
                    tick = await seat.wait()
                    now = time.thread_time()
                    first = first_of_burst.setdefault((seat.phase, tick), now)
                    if measuring:
                        lateness.append((now - first) * 1000)
                        wall.append((loop.time() - seat.due()) * 1000)
                    await call.frame()
                    done += measuring
            finally:
                seat.leave()

        async def clock() -> None:
            nonlocal measuring, spent, loop_spent, done
            await asyncio.sleep(WARM_UP_SECONDS)
            measuring, started, done = True, time.process_time(), 0
            loop_started = time.thread_time()
            await asyncio.sleep(seconds)
            measuring, spent = False, time.process_time() - started
            loop_spent = time.thread_time() - loop_started

        frames = int((WARM_UP_SECONDS + seconds) * 50) + 10
        await asyncio.gather(clock(), *(follow(call, frames) for call in media))
        for call in media:
            call.close()
    batch.close()
    ordered = np.sort(np.asarray(lateness))
    return {
        "burst_p50_ms": float(np.percentile(ordered, 50)),
        "burst_p99_ms": float(np.percentile(ordered, 99)),
        "burst_max_ms": float(ordered[-1]),
        "wall_p50_ms": float(np.percentile(wall, 50)),
        "wall_p99_ms": float(np.percentile(wall, 99)),
        "cpu_ms_per_call_second": spent / max(1, done) * 50 * 1000,
        "loop_cpu_ms_per_call_second": loop_spent / max(1, done) * 50 * 1000,
        "model_windows_per_run": batch.windows / max(1, batch.runs),
        "frames_done_share": done / (calls * seconds * 50),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="150,300", help="comma-separated call counts")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--phases", default="1,4", help="comma-separated ticker slots")
    parser.add_argument("--gate", choices=["on", "off"], default="on")
    parser.add_argument(
        "--vad-thread", default="on", help="comma-separated on/off: the VAD model on its thread"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for calls in (int(n) for n in args.calls.split(",")):
        for _ in range(2):
            for phases, thread in itertools.product(
                (int(p) for p in args.phases.split(",")), args.vad_thread.split(",")
            ):
                figures = asyncio.run(
                    _run(calls, args.seconds, phases, args.gate == "on", thread == "on")
                )
                row = {"calls": calls, "phases": phases, "gate": args.gate, "vad_thread": thread}
                results.append(row | figures)
                print(
                    f"{calls} calls, {phases} slot(s), gate {args.gate}, VAD thread {thread}: "
                    f"burst lateness p50 {figures['burst_p50_ms']:.1f} / "
                    f"p99 {figures['burst_p99_ms']:.1f} / max {figures['burst_max_ms']:.1f} ms "
                    f"loop CPU; wall lateness p50 {figures['wall_p50_ms']:.1f} / "
                    f"p99 {figures['wall_p99_ms']:.1f} ms; CPU per call-second "
                    f"{figures['cpu_ms_per_call_second']:.2f} ms (process), "
                    f"{figures['loop_cpu_ms_per_call_second']:.2f} ms (loop thread); "
                    f"{figures['model_windows_per_run']:.0f} windows per model call; "
                    f"{figures['frames_done_share']:.0%} of the frames due done",
                    flush=True,
                )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
