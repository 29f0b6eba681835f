"""Barge-in quality on audio-mode sandbox calls: false barge-ins, missed ones, reaction time.

Method: audio-mode sandbox calls, one after another in this process, with the real local
models (Silero VAD, faster-whisper tiny.en int8, espeak-ng for both voices), to three
callers, each until at least ``--turns`` agent turns were heard:

- the backchanneler (+1 415 555 0118) says "uh-huh", "okay", "mm-hmm" over the agent's turns;
- the echoing line (+1 415 555 0119) returns the agent's voice 120 ms late at -15 dB;
- the stopper (+1 415 555 0117) cuts the agent short ("Wait, stop. Who is this?").

Figures per caller, from the session's own counts and from the audio each end of the line
sent, time-stamped on the event loop's clock as it was sent (20 ms frames, RMS):

- **false barge-ins**: agent turns cut (``metrics.barge_ins``) over agent turns, for the
  backchanneler and the echoing line (which never mean to interrupt);
- **missed barge-ins**: of the stopper's lines that started while the agent sounded (the
  contact louder than -40 dBFS after 300 ms of quiet, the agent louder in the 200 ms
  before), those after which the agent did not stop (stay quiet for 1 s);
- **reaction**: from such an onset to the agent's audio going quiet for 200 ms, p50 and
  p90, for the stopper's interruptions; for the backchanneler, the same onset-to-hold time
  and how long the agent held before going on (the pause a backchannel costs).

Run: ``.venv/bin/python -m bench.interruptions [--turns 20] [--json out.json]``; it speaks
in real time (about 20-30 s a call, 12-15 minutes in all).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voxline.config import load_settings
from voxline.domain.calls import CallEvent
from voxline.telephony.base import PlacementRequest, ProviderEvent
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import AudioMode, SandboxCarrier
from voxline.telephony.sandbox.personas import BACKCHANNEL_WORDS
from voxline.voice.brain.base import AgentProfile
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.frames import AudioFrame
from voxline.voice.kit import VoiceKit
from voxline.voice.session import CallSession, SessionConfig

PROMPT = (
    "- I'm calling to confirm your appointment on Thursday at two in the afternoon.\n"
    "- Wonderful. Please arrive ten minutes early and bring your insurance card."
)
GREETING = "Hi Jane, this is Ava from Voxline Dental, calling about your visit next week."
CALLERS = {
    "backchanneler": "+14155550118",
    "echoing": "+14155550119",
    "stopper": "+14155550117",
}
FRAME = 320  # samples: 20 ms at 16 kHz
LOUD = 10 ** (-40 / 20) * 32768  # -40 dBFS in int16 units
ONSET_QUIET_FRAMES = 15  # 300 ms of quiet before an onset
AGENT_BEFORE_FRAMES = 10  # the agent sounding in the 200 ms before it
STOPPED_FRAMES = 10  # the agent quiet for 200 ms: stopped


class _Transcript:
    def __init__(self) -> None:
        self.agent_turns = 0

    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        if speaker == "agent":
            self.agent_turns += 1


@dataclass
class CallerFigures:
    calls: int = 0
    agent_turns: int = 0
    barge_ins: int = 0
    backchannels_said: int = 0
    over_agent: int = 0  # contact speech onsets while the agent was sounding
    stopped: int = 0  # ... after which the agent stopped (quiet for 1 s)
    reactions_ms: list[float] = field(default_factory=list)
    holds_ms: list[float] = field(default_factory=list)  # pauses after which it went on


class _Timed:
    """(loop time, RMS) of each frame one end of the sandbox line sends."""

    def __init__(self, end: AudioEnd) -> None:
        self.frames: list[tuple[float, float]] = []
        self._send = end.send
        end.send = self.send  # type: ignore[method-assign]

    async def send(self, frame: AudioFrame) -> None:
        samples = np.frombuffer(frame.pcm, dtype=np.int16).astype(np.float64)
        rms = float(np.sqrt((samples**2).mean())) if len(samples) else 0.0
        self.frames.append((asyncio.get_running_loop().time(), rms))
        await self._send(frame)


async def one_call(kit: VoiceKit, number: str, index: int) -> dict[str, Any]:
    done = asyncio.Event()
    transcript = _Transcript()
    outcome: dict[str, Any] = {}

    async def sink(event: ProviderEvent) -> None:
        if event.event not in (CallEvent.RINGING, CallEvent.ANSWERED):
            done.set()

    async def on_answer(call_id: str, line: object) -> None:
        assert isinstance(line, AudioEnd)
        outcome["agent"] = _Timed(line)
        outcome["contact"] = _Timed(line.line.contact)
        session = CallSession(
            brain=ScriptedBrain(AgentProfile(PROMPT, GREETING, 0.3, "scripted", {})),
            stt=kit.stt,
            tts=kit.tts,
            vad=kit.vad(),
            transcript=transcript,
            config=SessionConfig(silence_timeout_s=6, agent_voice="espeak-en-us"),
        )
        outcome["metrics"] = await session.run(line)

    carrier = SandboxCarrier(
        events=sink,
        on_answer=on_answer,
        time_scale=0.1,
        audio=AudioMode(
            tts=lambda: kit.tts, vad=lambda: kit.vad(hangover_ms=700), voice="espeak-en-us-f3"
        ),
    )
    request = PlacementRequest(
        f"bench-{index}", "org", "agent", number, "+14155551000", "sandbox", 60
    )
    provider_call_id = await carrier.place_call(request)
    await asyncio.wait_for(done.wait(), 240)
    said = list(carrier.calls[provider_call_id].callee_said)
    await carrier.aclose()
    return {
        "agent_turns": transcript.agent_turns,
        "barge_ins": outcome["metrics"].barge_ins,
        "backchannels_said": sum(1 for text in said if text in BACKCHANNEL_WORDS),
        "agent": outcome["agent"].frames,
        "contact": outcome["contact"].frames,
    }


@dataclass(frozen=True, slots=True)
class Overlap:
    """The contact starting to speak while the agent sounded, and what the agent did."""

    reaction_ms: float | None  # onset to the agent quiet for 200 ms (None: never, in 3 s)
    stopped: bool  # the agent then stayed quiet for 1 s (a cut, not a hold)
    held_ms: float | None  # how long the agent was quiet before sounding again


def overlaps(agent: list[tuple[float, float]], contact: list[tuple[float, float]]) -> list[Overlap]:
    """Each onset of the contact's speech while the agent sounded (wall-clock times of the
    frames as each end sent them): how the agent reacted."""
    agent_times = np.array([t for t, _ in agent])
    agent_loud = np.array([level > LOUD for _, level in agent])
    found: list[Overlap] = []
    quiet = ONSET_QUIET_FRAMES
    for at, level in contact:
        if level <= LOUD:
            quiet += 1
            continue
        onset, quiet = quiet >= ONSET_QUIET_FRAMES, 0
        start = int(np.searchsorted(agent_times, at))
        before = agent_loud[max(0, start - AGENT_BEFORE_FRAMES) : start + 1]
        if not onset or not before.any():
            continue
        reaction: float | None = None
        stopped = False
        held: float | None = None
        for j in range(start, min(len(agent_loud), start + 150)):
            if not agent_loud[j : j + STOPPED_FRAMES].any():
                reaction = (agent_times[j] - at) * 1000
                again = np.flatnonzero(agent_loud[j:])
                resumed_at = agent_times[j + again[0]] if len(again) else agent_times[-1]
                held = (resumed_at - agent_times[j]) * 1000
                stopped = held >= 1000
                break
        found.append(Overlap(reaction, stopped, held))
    return found


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(kit: VoiceKit, turns: int) -> dict[str, CallerFigures]:
    figures = {name: CallerFigures() for name in CALLERS}
    index = 0
    for name, number in CALLERS.items():
        caller = figures[name]
        while caller.agent_turns < turns:
            result = await one_call(kit, number, index)
            index += 1
            caller.calls += 1
            caller.agent_turns += result["agent_turns"]
            caller.barge_ins += result["barge_ins"]
            caller.backchannels_said += result["backchannels_said"]
            if name != "echoing":  # there the contact's audio carries the echo too
                found = overlaps(result["agent"], result["contact"])
                caller.over_agent += len(found)
                caller.stopped += sum(1 for o in found if o.stopped)
                caller.reactions_ms += [o.reaction_ms for o in found if o.reaction_ms is not None]
                caller.holds_ms += [
                    o.held_ms for o in found if o.held_ms is not None and not o.stopped
                ]
    return figures


def summarise(figures: dict[str, CallerFigures]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, caller in figures.items():
        row: dict[str, Any] = {
            "calls": caller.calls,
            "agent_turns": caller.agent_turns,
            "barge_ins": caller.barge_ins,
        }
        if name == "stopper":
            missed = caller.over_agent - caller.stopped
            row["interruptions_attempted"] = caller.over_agent
            row["missed_rate"] = round(missed / max(1, caller.over_agent), 3)
        else:
            row["false_barge_in_rate"] = round(caller.barge_ins / max(1, caller.agent_turns), 3)
        if name == "backchanneler":
            row["backchannels_said"] = caller.backchannels_said
            row["overlaps"] = caller.over_agent
            if caller.holds_ms:
                row["hold_ms"] = {
                    "p50": percentile(caller.holds_ms, 0.5),
                    "p90": percentile(caller.holds_ms, 0.9),
                }
        if caller.reactions_ms:
            row["reaction_ms"] = {
                "p50": percentile(caller.reactions_ms, 0.5),
                "p90": percentile(caller.reactions_ms, 0.9),
                "count": len(caller.reactions_ms),
            }
        out[name] = row
    return out


def render(result: dict[str, Any]) -> str:
    lines = [
        "| caller | calls | agent turns | turns cut | false barge-ins | missed | "
        "onset to agent quiet p50 / p90 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result.items():
        reaction = row.get("reaction_ms")
        timing = f"{reaction['p50']:.0f} / {reaction['p90']:.0f}" if reaction else "-"
        false = row.get("false_barge_in_rate")
        missed = row.get("missed_rate")
        false_text = "-" if false is None else f"{false:.1%}"
        attempted = row.get("interruptions_attempted", 0)
        missed_text = "-" if missed is None else f"{missed:.1%} of {attempted}"
        lines.append(
            f"| {name} | {row['calls']} | {row['agent_turns']} | {row['barge_ins']} | "
            f"{false_text} | {missed_text} | {timing} |"
        )
    return "\n".join(lines)


async def main(turns: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        kit = VoiceKit(load_settings(data_dir=Path(data), secret_key="bench", tts_engine="espeak"))
        figures = await measure(kit, turns)
    return summarise(figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(main(args.turns))
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
