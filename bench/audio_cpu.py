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
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.capacity_host import CONTACT_SIGNAL, CallMedia, _test_signal
from voxline.voice.audio import pcm16_to_mulaw
from voxline.voice.vad import StreamingVad
from voxline.voice.vad_batch import SileroBatch

FRAMES_PER_SECOND = 50

# name -> the SileroBatch's keyword arguments
CONFIGS: dict[str, dict[str, Any]] = {
    "inline": {"threaded": False},
    "thread": {"threaded": True},
}


async def _run(calls: int, warm_up: float, seconds: float, config: str) -> dict[str, float]:
    batch = SileroBatch(**CONFIGS[config])
    contact = pcm16_to_mulaw(_test_signal(8000, pitch=140.0, **CONTACT_SIGNAL))
    agent = _test_signal(16000, 5.0, 210.0)
    with tempfile.TemporaryDirectory() as directory:
        media = [
            CallMedia(StreamingVad(batch.stream()), Path(directory), f"c{n}", contact, agent)
            for n in range(calls)
        ]
        for n, call in enumerate(media):
            call.index = 37 * n  # calls out of step with each other, as real ones are
        for _ in range(int(warm_up * FRAMES_PER_SECOND)):
            await asyncio.gather(*(call.frame() for call in media))
        ticks = int(seconds * FRAMES_PER_SECOND)
        runs, windows = batch.runs, batch.windows
        process, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
        for _ in range(ticks):
            await asyncio.gather(*(call.frame() for call in media))
        process = time.process_time() - process
        thread = time.thread_time() - thread
        wall = time.perf_counter() - wall
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warm-up", type=float, default=3.0, help="seconds of call")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of call measured")
    parser.add_argument("--configs", default="inline,thread", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        for config in args.configs.split(","):
            figures = asyncio.run(_run(args.calls, args.warm_up, args.seconds, config))
            results.append({"calls": args.calls, "config": config, "round": round_} | figures)
            print(
                f"{args.calls} calls, {config}: CPU per call-second "
                f"{figures['process_ms_per_call_second']:.2f} ms process, "
                f"{figures['loop_ms_per_call_second']:.2f} ms loop thread; "
                f"{figures['wall_ms_per_tick']:.1f} ms wall per tick; "
                f"{figures['windows_per_model_call']:.0f} windows per model call",
                flush=True,
            )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
