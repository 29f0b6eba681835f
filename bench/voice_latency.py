"""Turn latency of an audio-mode sandbox conversation, split by stage.

Method: N sandbox calls to the talking callee (+1 415 555 0100) run one after another in
this process with the real local models (Silero VAD, faster-whisper tiny.en int8, the
configured TTS). Every agent turn records the time from the contact's last word to the first
agent audio, split into VAD wait (the silence hang-over), STT, brain and TTS (first
sentence). The baseline, measured in the same run on the same machine, is the bare compute
of one turn: one transcription of a recorded callee utterance plus one synthesis of an agent
sentence, called directly. ``turn p50 / baseline`` is then what the live pipeline adds
(hang-over, queueing, pacing) on top of the models themselves.

Run: ``.venv/bin/python -m bench.voice_latency [--calls 3] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from voxline.config import load_settings
from voxline.domain.calls import CallEvent
from voxline.telephony.base import PlacementRequest, ProviderEvent
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import AudioMode, SandboxCarrier
from voxline.voice.brain.base import AgentProfile
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.kit import VoiceKit
from voxline.voice.session import CallSession, SessionConfig

PROMPT = (
    "- I'm calling to confirm your appointment on Thursday at two in the afternoon.\n"
    "- Wonderful. Please arrive ten minutes early and bring your insurance card."
)
GREETING = "Hi Jane, this is Ava from Voxline Dental."
CALLEE_LINE = "Yes, speaking. What is this about?"
AGENT_LINE = "I'm calling to confirm your appointment on Thursday at two in the afternoon."


class _Discard:
    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        return None


async def one_call(kit: VoiceKit, index: int) -> list[dict[str, Any]]:
    done = asyncio.Event()
    turns: list[dict[str, Any]] = []

    async def sink(event: ProviderEvent) -> None:
        if event.event not in (CallEvent.RINGING, CallEvent.ANSWERED):
            done.set()

    async def on_answer(call_id: str, line: object) -> None:
        assert isinstance(line, AudioEnd)
        session = CallSession(
            brain=ScriptedBrain(AgentProfile(PROMPT, GREETING, 0.3, "scripted", {})),
            stt=kit.stt,
            tts=kit.tts,
            vad=kit.vad(),
            transcript=_Discard(),
            config=SessionConfig(silence_timeout_s=6),
        )
        metrics = await session.run(line)
        turns.extend(metrics.as_json()["turns"])

    carrier = SandboxCarrier(
        events=sink,
        on_answer=on_answer,
        time_scale=0.1,
        audio=AudioMode(
            tts=lambda: kit.tts,
            vad=lambda: kit.vad(hangover_ms=700),
            voice=kit.settings.sandbox_callee_voice,
        ),
    )
    request = PlacementRequest(
        f"bench-{index}", "org", "agent", "+14155550100", "+14155551000", "sandbox", 30
    )
    await carrier.place_call(request)
    await asyncio.wait_for(done.wait(), 180)
    await carrier.aclose()
    return turns


async def baseline(kit: VoiceKit, repeats: int = 5) -> float:
    """Bare model compute of one turn (ms): transcribe a callee line, synthesize a reply."""
    utterance = await kit.tts.synthesize(CALLEE_LINE, kit.settings.sandbox_callee_voice)
    await kit.stt.transcribe(utterance)  # warm-up
    await kit.tts.synthesize(AGENT_LINE.split(".")[0])
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await kit.stt.transcribe(utterance)
        await kit.tts.synthesize(AGENT_LINE)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def main(calls: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        kit = VoiceKit(load_settings(data_dir=Path(data), secret_key="bench"))
        base_ms = await baseline(kit)
        turns: list[dict[str, Any]] = []
        for index in range(calls):
            turns += await one_call(kit, index)
    stages = ["vad_wait_ms", "stt_ms", "brain_ms", "tts_ms", "total_ms"]
    table = {
        stage: {
            "p50": round(percentile([t[stage] for t in turns], 0.5), 1),
            "p90": round(percentile([t[stage] for t in turns], 0.9), 1),
            "max": round(max(t[stage] for t in turns), 1),
        }
        for stage in stages
    }
    return {
        "tts_engine": kit.tts.name,
        "calls": calls,
        "turns": len(turns),
        "baseline_ms": round(base_ms, 1),
        "stages": table,
        "turn_p50_over_baseline": round(table["total_ms"]["p50"] / base_ms, 2),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"TTS {result['tts_engine']}, {result['calls']} calls, {result['turns']} turns; "
        f"baseline (one STT + one TTS, direct) {result['baseline_ms']} ms",
        "| stage | p50 ms | p90 ms | max ms |",
        "|---|---|---|---|",
    ]
    for stage, figures in result["stages"].items():
        lines.append(f"| {stage} | {figures['p50']} | {figures['p90']} | {figures['max']} |")
    lines.append(f"turn p50 / baseline = {result['turn_p50_over_baseline']}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.calls))
    print(render(outcome))
    if args.json:
        args.json.write_text(json.dumps(outcome, indent=2))
