"""CPU per 20 ms frame of the echo canceller on real speech (``python -m bench.echo_cost``).

The agent's and the contact's voices are those of ``tests/voice/test_echo.py`` (espeak-ng),
through the same simulated phone line; each case feeds the canceller the agent's frames as
its reference and the line's as incoming, as ``BargeInGate`` does, and times
``reference`` + ``process`` in process CPU time, the median of ``--runs`` passes.
``--baseline PATH`` also times another version of ``voice/echo.py`` (e.g. an older commit's,
``git show <commit>:src/voxline/voice/echo.py > /tmp/echo_before.py``) in the same process,
alternating with this one, and gives the ratio.

``--host N`` also runs N calls of the capacity host's per-frame path
(``bench.capacity_host.CallMedia``, frames back to back on one loop, 3 s of warm-up then
10 s) with the barge-in gate off, with the baseline's canceller and with this one, twice,
and gives ms of CPU per call-second and the calls whose canceller found an echo (there is
none on that line).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np
from tests.voice.speech import phone_line
from tests.voice.test_echo import AGENT, CONTACT, line_with_echo, mix

from voxline.voice.echo import EchoCanceller
from voxline.voice.frames import split_frames
from voxline.voice.tts.espeak import EspeakTts


async def _voices() -> tuple[bytes, bytes]:
    tts = EspeakTts()
    return (
        await tts.synthesize(AGENT, "espeak-en-us"),
        await tts.synthesize(CONTACT, "espeak-en-us-f3"),
    )


def cases(agent: bytes, contact: bytes) -> dict[str, tuple[bytes, bytes]]:
    """Name: (what the agent sends, what the line returns), each as long as the agent."""
    silent = bytes(len(agent))
    noise = np.random.default_rng(0).standard_normal(len(agent) // 2) * 30
    return {
        "agent talks, silent line": (agent, silent),
        "agent talks, line noise (-60 dBFS)": (agent, phone_line(noise.astype(np.int16).tobytes())),
        "agent talks, echo 120 ms -15 dB": (agent, line_with_echo(agent, 120, -15, tail_s=0)),
        "agent talks, contact over it": (agent, mix(silent, contact, 1.0)),
        "agent talks, contact over echo": (
            agent,
            mix(line_with_echo(agent, 120, -15, tail_s=0), contact, 2.0),
        ),
        "agent quiet, contact talks": (silent, mix(silent, contact, 1.0)),
    }


def _time(canceller: Any, outgoing: list[bytes], incoming: list[bytes]) -> float:
    started = time.process_time()
    for out, heard in zip(outgoing, incoming, strict=False):
        canceller.reference(out)
        canceller.process(heard)
    return (time.process_time() - started) / len(incoming) * 1e6


async def _host(calls: int, gate: bool, warm_up: int = 150, frames: int = 500) -> tuple[float, int]:
    import tempfile

    from bench.capacity_host import CONTACT_SIGNAL, CallMedia, _test_signal
    from voxline.voice.audio import pcm16_to_mulaw
    from voxline.voice.vad import StreamingVad
    from voxline.voice.vad_batch import SileroBatch

    batch = SileroBatch()
    contact = pcm16_to_mulaw(_test_signal(8000, pitch=140.0, **CONTACT_SIGNAL))
    agent = _test_signal(16000, 5.0, 210.0)
    with tempfile.TemporaryDirectory() as directory:
        media = [
            CallMedia(
                StreamingVad(batch.stream()), Path(directory), f"c{n}", contact, agent, gate=gate
            )
            for n in range(calls)
        ]
        for n, call in enumerate(media):
            call.index = 37 * n  # out of step with each other, as real calls are
        for _ in range(warm_up):
            await asyncio.gather(*(call.frame() for call in media))
        started = time.process_time()
        for _ in range(frames):
            await asyncio.gather(*(call.frame() for call in media))
        spent = time.process_time() - started
        found = sum(call.gate.echo.echo_present for call in media if call.gate is not None)
        for call in media:
            call.close()
    return spent / (calls * frames / 50) * 1000, found


def host(calls: int, baseline: Any) -> None:
    """The capacity host's path with the gate off, with ``baseline``'s canceller, and with
    this one."""
    from voxline.voice import barge_in

    for _ in range(2):
        for label, canceller in (
            ("gate off", None),
            ("gate, baseline canceller", baseline),
            ("gate, this canceller", EchoCanceller),
        ):
            if canceller is not None:
                barge_in.EchoCanceller = canceller  # type: ignore[misc]
            ms, found = asyncio.run(_host(calls, canceller is not None))
            print(f"{label:26s} {ms:6.2f} ms CPU per call-second; echo found on {found}/{calls}")
    barge_in.EchoCanceller = EchoCanceller  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another voice/echo.py to compare")
    parser.add_argument("--host", type=int, help="also run this many capacity-host calls")
    args = parser.parse_args()
    versions: dict[str, Any] = {"now": EchoCanceller}
    if args.baseline is not None:
        spec = importlib.util.spec_from_file_location("echo_baseline", args.baseline)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        versions = {"baseline": module.EchoCanceller, "now": EchoCanceller}
    agent, contact = asyncio.run(_voices())
    for name, (out, heard) in cases(agent, contact).items():
        outgoing = [frame.pcm for frame in split_frames(out)]
        incoming = [frame.pcm for frame in split_frames(heard)][: len(outgoing)]
        spent: dict[str, list[float]] = {version: [] for version in versions}
        found = {}
        for _ in range(args.runs):
            for version, make in versions.items():
                canceller = make()
                spent[version].append(_time(canceller, outgoing, incoming))
                found[version] = canceller.echo_present
        medians = {version: float(np.median(times)) for version, times in spent.items()}
        line = f"{name:36s} " + "  ".join(f"{v} {m:6.1f}" for v, m in medians.items())
        if "baseline" in medians:
            line += f"  µs/frame  now ÷ baseline {medians['now'] / medians['baseline']:.2f}x"
        print(line + f"  (echo found: {found})", flush=True)
    if args.host:
        host(args.host, versions.get("baseline", EchoCanceller))


if __name__ == "__main__":
    main()
