"""Turn-taking of audio-mode sandbox conversations: the on-wire gap and premature cut-ins.

Method: sandbox calls to several callees (the talker +1 415 555 0100, the mid-sentence
pauser 0113 and the slow digit reader 0114 by default) run one after another in this process
with the real local models (Silero VAD, the Smart Turn v3 end-of-turn model, faster-whisper
tiny.en int8, the configured TTS) and the scripted brain. For every answered turn the
session's metrics give the gap measured on the call's two recorded channels (the contact's
last audible sound to the agent's first audible sound) and the stages that make it up. A
premature cut-in is either the agent starting to talk during a pause inside one of the
callee's lines (the callee notes it) or the session taking a turn as over before the callee
went on (``early_turn_ends`` in the call's metrics: heard or not, the reply would answer half
a sentence); its rate is per callee line with pauses.

The baseline, measured in the same run, is the bare compute of one turn: one transcription
of a recorded callee utterance plus one synthesis of an agent sentence, called directly. The
transcription is faster-whisper's own, over Whisper's 30 s window (``whole_window``), so the
yardstick measures the machine and stays the same when the session's path gets faster.

Run: ``.venv/bin/python -m bench.voice_latency [--calls 4] [--no-eot] [--no-early-draft]
[--json out.json]``. ``--no-eot`` turns the end-of-turn model off (the VAD's 400 ms hang-over
alone), ``--no-early-draft`` starts drafting answers at the VAD's stop rather than 96 ms into
the silence, each for a comparison in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxline.config import Settings, load_settings
from voxline.domain.calls import CallEvent
from voxline.telephony.base import PlacementRequest, ProviderEvent
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import AudioMode, SandboxCarrier
from voxline.telephony.sandbox.personas import line_parts, persona_for
from voxline.voice.audio import pcm16_to_float32
from voxline.voice.brain.base import AgentProfile
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.kit import VoiceKit
from voxline.voice.metrics import STAGES
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.stt.whisper import load_model, whole_window

PROMPT = (
    "- I'm calling to confirm your appointment on Thursday at two in the afternoon.\n"
    "- Wonderful. Please arrive ten minutes early and bring your insurance card."
)
GREETING = "Hi Jane, this is Ava from Voxline Dental."
DIGITS_PROMPT = "- Thank you. Is that a mobile number?\n- Great, I have noted it."
DIGITS_GREETING = "Hi, this is Ava from Voxline Dental. What is the best phone number for you?"
CALLEE_LINE = "Yes, speaking. What is this about?"
AGENT_LINE = "I'm calling to confirm your appointment on Thursday at two in the afternoon."


@dataclass(frozen=True)
class Caller:
    name: str
    number: str
    prompt: str = PROMPT
    greeting: str = GREETING


CALLERS = {
    "talker": Caller("talker", "+14155550100"),
    "pauser": Caller("pauser", "+14155550113"),
    "digits": Caller("digits", "+14155550114", DIGITS_PROMPT, DIGITS_GREETING),
}


class _Discard:
    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        return None


async def one_call(
    kit: VoiceKit,
    caller: Caller,
    index: int,
    *,
    eot: bool,
    callee_voice: str,
    early_draft: bool = True,
    block_ms: int = Settings.model_fields["media_block_ms"].default,
) -> dict[str, Any]:
    done = asyncio.Event()
    turns: list[dict[str, Any]] = []
    early: list[int] = []
    held: list[int] = []

    async def sink(event: ProviderEvent) -> None:
        if event.event not in (CallEvent.RINGING, CallEvent.ANSWERED):
            done.set()

    async def on_answer(call_id: str, line: object) -> None:
        assert isinstance(line, AudioEnd)
        session = CallSession(
            brain=ScriptedBrain(AgentProfile(caller.prompt, caller.greeting, 0.3, "scripted", {})),
            stt=kit.stt,
            tts=kit.tts,
            vad=kit.agent_vad() if eot else kit.vad(),
            end_of_turn=kit.turn_model if eot else None,
            transcript=_Discard(),
            config=SessionConfig(
                silence_timeout_s=6,
                early_draft_ms=96.0 if early_draft else None,
                media_block_ms=block_ms,
            ),
        )
        metrics = await session.run(line)
        turns.extend(t.as_json() for t in metrics.turns)
        early.append(metrics.early_turn_ends)
        held.append(metrics.held_for_words)

    carrier = SandboxCarrier(
        events=sink,
        on_answer=on_answer,
        time_scale=0.1,
        audio=AudioMode(
            tts=lambda: kit.tts, vad=lambda: kit.vad(hangover_ms=700), voice=callee_voice
        ),
    )
    request = PlacementRequest(
        f"bench-{caller.name}-{index}", "org", "agent", caller.number, "+14155551000", "sandbox", 60
    )
    provider_id = await carrier.place_call(request)
    await asyncio.wait_for(done.wait(), 180)
    call = carrier.calls[provider_id]
    paused_lines = sum(1 for said in call.callee_said if _has_pause(caller, said))
    cut_ins = len(call.callee_cut_ins)
    # Which of the callee's scripted lines the agent talked into (first words only).
    cut_lines = [" ".join(said.split()[:3]) for said in call.callee_cut_ins]
    await carrier.aclose()
    return {
        "turns": turns,
        "paused_lines": paused_lines,
        "cut_ins": cut_ins,
        "cut_lines": cut_lines,
        "early_ends": sum(early),
        "held_for_words": sum(held),
    }


def _has_pause(caller: Caller, said: str) -> bool:
    return any(
        len(line_parts(line)) > 1 and " ".join(line_parts(line)) == said
        for line in persona_for(caller.number).lines
    )


async def baseline(kit: VoiceKit, callee_voice: str, repeats: int = 5) -> float:
    """Bare model compute of one turn (ms): transcribe a callee line, synthesize a reply."""
    utterance = pcm16_to_float32(await kit.tts.synthesize(CALLEE_LINE, callee_voice))
    model = load_model()
    await asyncio.to_thread(whole_window, model, utterance, False, "en")  # warm-up
    await kit.tts.synthesize(AGENT_LINE.split(".")[0])
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await asyncio.to_thread(whole_window, model, utterance, False, "en")
        await kit.tts.synthesize(AGENT_LINE)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


# Per-turn fields kept in the JSON report.
_TURN_ROW = ("wire_gap_ms", "eot_wait_ms", "eot_judge", "eot_probability", "eot_context")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _figures(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "max": float("nan")}
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p90": round(percentile(values, 0.9), 1),
        "max": round(max(values), 1),
    }


async def main(
    calls: int,
    callers: list[str],
    *,
    eot: bool,
    callee_voice: str | None,
    early_draft: bool = True,
    block_ms: int = Settings.model_fields["media_block_ms"].default,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        kit = VoiceKit(load_settings(data_dir=Path(data), secret_key="bench"))
        voice = callee_voice or kit.settings.sandbox_callee_voice
        base_ms = await baseline(kit, voice)
        if eot and kit.turn_model is None:
            raise SystemExit("the end-of-turn model is not installed (see the Makefile)")
        per_caller: dict[str, Any] = {}
        turns: list[dict[str, Any]] = []
        for name in callers:
            caller = CALLERS[name]
            outcomes = [
                await one_call(
                    kit,
                    caller,
                    index,
                    eot=eot,
                    callee_voice=voice,
                    early_draft=early_draft,
                    block_ms=block_ms,
                )
                for index in range(calls)
            ]
            caller_turns = [t for o in outcomes for t in o["turns"]]
            paused = sum(o["paused_lines"] for o in outcomes)
            heard = sum(o["cut_ins"] for o in outcomes)
            early = sum(o["early_ends"] for o in outcomes)
            cut = heard + early
            per_caller[name] = {
                "turns": len(caller_turns),
                "wire_gap_ms": _figures(
                    [t["wire_gap_ms"] for t in caller_turns if t["wire_gap_ms"] is not None]
                ),
                "lines_with_pauses": paused,
                "premature_cut_ins": cut,
                "agent_talked_in_a_pause": heard,
                "turn_ended_before_the_contact_did": early,
                "lines_talked_into": dict(Counter(x for o in outcomes for x in o["cut_lines"])),
                "cut_in_rate": round(cut / paused, 3) if paused else None,
                # Stops held because their words sounded unfinished (the contact went on
                # or not), and answered turns among them (the contact did not go on).
                "held_for_words": sum(o["held_for_words"] for o in outcomes),
                "answered_after_a_hold": sum(1 for t in caller_turns if t["held_unfinished"]),
                # Which judge set each answered turn's end-of-turn wait (voice.end_of_turn).
                "eot_judges": dict(Counter(str(t["eot_judge"]) for t in caller_turns)),
                # Every answered turn, in order: what the slow ones waited for.
                "turn_rows": [{key: t[key] for key in _TURN_ROW} for t in caller_turns],
            }
            turns += caller_turns
    wire = [t["wire_gap_ms"] for t in turns if t["wire_gap_ms"] is not None]
    agree = [abs(t["total_ms"] - t["wire_gap_ms"]) for t in turns if t["wire_gap_ms"] is not None]
    stages = {stage: _figures([t[stage] for t in turns]) for stage in (*STAGES, "total_ms")}
    probabilities = [t["eot_probability"] for t in turns if t["eot_probability"] is not None]
    return {
        "tts_engine": kit.tts.name,
        "callee_voice": voice,
        "end_of_turn_model": eot,
        "early_draft": early_draft,
        "media_block_ms": block_ms,
        "calls_per_caller": calls,
        "turns": len(turns),
        "baseline_ms": round(base_ms, 1),
        "wire_gap_ms": _figures(wire),
        "stage_sum_vs_wire_max_ms": round(max(agree), 1) if agree else None,
        "eot_probability_p50": round(statistics.median(probabilities), 3)
        if probabilities
        else None,
        "stages": stages,
        "callers": per_caller,
    }


def render(result: dict[str, Any]) -> str:
    wire = result["wire_gap_ms"]
    lines = [
        f"TTS {result['tts_engine']}, callee voice {result['callee_voice']}, end-of-turn model "
        f"{'on' if result['end_of_turn_model'] else 'off'}, early drafts "
        f"{'on' if result['early_draft'] else 'off'}, media blocks of "
        f"{result.get('media_block_ms', 20)} ms; {result['turns']} turns; baseline "
        f"(one STT + one TTS, direct) {result['baseline_ms']} ms",
        f"on-wire gap p50 {wire['p50']} ms, p90 {wire['p90']} ms, max {wire['max']} ms; "
        f"stage sum vs wire gap: at most {result['stage_sum_vs_wire_max_ms']} ms apart",
        "| stage | p50 ms | p90 ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for stage, figures in result["stages"].items():
        lines.append(f"| {stage} | {figures['p50']} | {figures['p90']} | {figures['max']} |")
    lines += [
        "",
        "| caller | turns | wire p50 ms | wire p90 ms | lines with pauses | cut-ins | rate "
        "| held for words (answered then) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in result["callers"].items():
        lines.append(
            f"| {name} | {c['turns']} | {c['wire_gap_ms']['p50']} | {c['wire_gap_ms']['p90']} | "
            f"{c['lines_with_pauses']} | {c['premature_cut_ins']} | {c['cut_in_rate']} | "
            f"{c['held_for_words']} ({c['answered_after_a_hold']}) |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=4, help="calls per caller")
    parser.add_argument("--callers", default="talker,pauser,digits")
    parser.add_argument("--no-eot", action="store_true", help="without the end-of-turn model")
    parser.add_argument(
        "--no-early-draft", action="store_true", help="draft answers at the VAD's stop only"
    )
    parser.add_argument("--callee-voice", help="the callees' voice (default: the setting)")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--block-ms",
        type=int,
        default=Settings.model_fields["media_block_ms"].default,
        help="the sessions' media block (default: VOXLINE_MEDIA_BLOCK_MS's default)",
    )
    args = parser.parse_args()
    outcome = asyncio.run(
        main(
            args.calls,
            args.callers.split(","),
            eot=not args.no_eot,
            early_draft=not args.no_early_draft,
            callee_voice=args.callee_voice,
            block_ms=args.block_ms,
        )
    )
    print(render(outcome))
    if args.json:
        args.json.write_text(json.dumps(outcome, indent=2))
