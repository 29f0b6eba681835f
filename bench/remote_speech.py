"""Platform latency around remote speech engines, measured against their emulators.

1. **Streaming STT turn end → first agent audio.** Sandbox audio calls to the talking callee
   (+1 415 555 0100, who speaks with espeak-ng in real time) with the agent hearing through
   the Deepgram adapter and the ``/listen`` emulator on loopback (endpointing 300 ms), the
   scripted brain, and espeak-ng for the agent's voice. For every turn: the time from the
   moment the emulator sent its ``speech_final`` result (``time.perf_counter()`` in the same
   process) to the first agent frame with sound that the session handed to the line after
   it. That is the platform's own share of a turn with a streaming engine: the WebSocket
   read, the hand-over to the session, the brain (scripted: instant), the synthesis of the
   first sentence, and the media clock's next 20 ms tick. The vendor's endpointing wait and
   the network to a real vendor are not in it. **Baseline**, same run: the synthesis of the
   agent's first reply sentence called directly (the one piece of work the turn cannot
   skip), median of five.
2. **Streamed TTS: first chunk vs whole clause.** The OpenAI-compatible speech adapter
   against the audio emulator (espeak-ng behind it, 24 kHz PCM streamed in 100 ms chunks):
   time to the first 16 kHz chunk and to the whole clause, per clause.

Run: ``.venv/bin/python -m bench.remote_speech [--calls 2] [--json out.json]`` (about 20 s a
call).
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

from tests.emulators.deepgram import API_KEY as DEEPGRAM_KEY
from tests.emulators.deepgram import DeepgramEmulator
from tests.emulators.openai_audio import API_KEY as OPENAI_KEY
from tests.emulators.openai_audio import OpenAIAudioEmulator

from voxline.config import load_settings
from voxline.domain.calls import CallEvent
from voxline.telephony.base import PlacementRequest, ProviderEvent
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import AudioMode, SandboxCarrier
from voxline.telephony.sandbox.personas import persona_for
from voxline.voice.brain.base import AgentProfile
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.frames import AudioFrame
from voxline.voice.kit import VoiceKit
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.stt.deepgram import DeepgramStt
from voxline.voice.tts.openai import OpenAITts

TALKER = "+14155550100"
PROMPT = (
    "- I'm calling to confirm your appointment on Thursday at two in the afternoon.\n"
    "- Wonderful. Please arrive ten minutes early and bring your insurance card."
)
GREETING = "Hi Jane, this is Ava from Voxline Dental."
CLAUSES = (
    "Thanks for calling Voxline Dental.",
    "Your appointment is on Thursday at two in the afternoon.",
    "Please arrive ten minutes early and bring your insurance card with you.",
)


class _Discard:
    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        return None


class TimedLine:
    """The sandbox line, with the time of every agent frame that carries sound."""

    def __init__(self, line: AudioEnd) -> None:
        self.line = line
        self.sound_at: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.line, name)

    async def send(self, frame: AudioFrame) -> None:
        if any(frame.pcm):
            self.sound_at.append(time.perf_counter())
        await self.line.send(frame)


async def one_call(kit: VoiceKit, deepgram: DeepgramEmulator, index: int) -> list[float]:
    """Platform latencies (ms) of one call's turns."""
    done = asyncio.Event()
    deepgram.transcripts.extend(persona_for(TALKER).lines)
    finals_before = len(deepgram.speech_finals)
    timed: list[TimedLine] = []

    async def sink(event: ProviderEvent) -> None:
        if event.event not in (CallEvent.RINGING, CallEvent.ANSWERED):
            done.set()

    async def on_answer(call_id: str, line: object) -> None:
        assert isinstance(line, AudioEnd)
        session = CallSession(
            brain=ScriptedBrain(AgentProfile(PROMPT, GREETING, 0.3, "scripted", {})),
            stt=DeepgramStt(deepgram.base_url, DEEPGRAM_KEY, endpointing_ms=300),
            tts=kit.tts,
            vad=kit.vad(),
            transcript=_Discard(),
            config=SessionConfig(silence_timeout_s=6, agent_voice="espeak-en-us"),
        )
        timed.append(TimedLine(line))
        await session.run(timed[0])

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
        f"bench-{index}", "org", "agent", TALKER, "+14155551000", "sandbox", 30
    )
    await carrier.place_call(request)
    await asyncio.wait_for(done.wait(), 180)
    await carrier.aclose()
    deepgram.transcripts.clear()
    latencies = []
    for final in deepgram.speech_finals[finals_before:]:
        after = [at for at in timed[0].sound_at if at > final]
        if after:
            latencies.append((after[0] - final) * 1000)
    return latencies


async def tts_first_chunk(repeats: int = 3) -> dict[str, float]:
    emulator = OpenAIAudioEmulator()
    await emulator.start()
    tts = OpenAITts(emulator.base_url, OPENAI_KEY)
    first: list[float] = []
    whole: list[float] = []
    try:
        await tts.synthesize(CLAUSES[0])  # warm-up: connection, espeak-ng
        for _ in range(repeats):
            for clause in CLAUSES:
                started = time.perf_counter()
                chunks = tts.stream(clause)
                await anext(chunks)
                first.append((time.perf_counter() - started) * 1000)
                async for _ in chunks:
                    pass
                whole.append((time.perf_counter() - started) * 1000)
    finally:
        await tts.aclose()
        await emulator.stop()
    return {
        "first_chunk_p50_ms": round(statistics.median(first), 1),
        "whole_clause_p50_ms": round(statistics.median(whole), 1),
        "clauses": len(first),
    }


async def main(calls: int) -> dict[str, Any]:
    deepgram = DeepgramEmulator()
    await deepgram.start()
    latencies: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as data:
            kit = VoiceKit(
                load_settings(data_dir=Path(data), secret_key="bench", tts_engine="espeak")
            )
            await kit.tts.synthesize("Warm up.")
            first_sentence = PROMPT.splitlines()[0].removeprefix("- ")
            samples = []
            for _ in range(5):
                started = time.perf_counter()
                await kit.tts.synthesize(first_sentence, "espeak-en-us")
                samples.append((time.perf_counter() - started) * 1000)
            baseline_ms = statistics.median(samples)
            for index in range(calls):
                latencies += await one_call(kit, deepgram, index)
    finally:
        await deepgram.stop()
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) if ordered else None
    return {
        "calls": calls,
        "turns": len(latencies),
        "baseline_tts_ms": round(baseline_ms, 1),
        "p50_over_baseline": round(p50 / baseline_ms, 2) if p50 is not None else None,
        "speech_final_to_first_audio_ms": {
            "p50": round(p50, 1) if p50 is not None else None,
            "max": round(ordered[-1], 1) if ordered else None,
            "all": [round(v, 1) for v in latencies],
        },
        "openai_tts": await tts_first_chunk(),
    }


def render(result: dict[str, Any]) -> str:
    turn = result["speech_final_to_first_audio_ms"]
    tts = result["openai_tts"]
    return "\n".join(
        [
            f"{result['calls']} calls, {result['turns']} turns (Deepgram emulator, espeak-ng)",
            f"speech_final -> first agent audio: p50 {turn['p50']} ms, max {turn['max']} ms; "
            f"baseline (first sentence's TTS, direct) {result['baseline_tts_ms']} ms, "
            f"p50 / baseline = {result['p50_over_baseline']}",
            f"OpenAI-compatible TTS ({tts['clauses']} clauses): first chunk p50 "
            f"{tts['first_chunk_p50_ms']} ms, whole clause p50 {tts['whole_clause_p50_ms']} ms",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    outcome = asyncio.run(main(args.calls))
    print(render(outcome))
    if args.json:
        args.json.write_text(json.dumps(outcome, indent=2))
