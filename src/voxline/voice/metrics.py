"""Latency figures of a live call, as stored on the call object (``metrics``).

Each answered contact turn has a :class:`TurnLatency`: the on-wire gap measured on the call's
two recorded channels (``wire_gap_ms``: the contact's last audible sound to the agent's first
audible sound, see :mod:`voxline.voice.turn_gap`) beside the stage split that explains it.
The stages are contiguous, so ``total_ms`` (their sum) is the pipeline's own account of the
gap; the two agree within a frame or two when nothing is left uncounted.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

# The stages of a turn, in the order they happen; ``total_ms`` is their sum.
STAGES = (
    "vad_lag_ms",  # contact's last audible sound -> the VAD's last voiced window ends
    "vad_wait_ms",  # the VAD's silence hang-over
    "vad_frame_ms",  # audio already received past the VAD's last whole window
    "eot_wait_ms",  # the end-of-turn model and the extra wait it chose
    "queue_ms",  # turn confirmed -> speech-to-text starts (the responder was busy)
    "stt_ms",
    "brain_ms",  # transcript written, then the brain's first clause
    "tts_ms",  # synthesis of the first clause
    "playout_ms",  # first clause queued -> its first frame leaves on the 20 ms media clock
    "tts_lead_ms",  # quiet at the start of the synthesized clause
    "alignment_ms",  # the recording's agent channel ahead of its contact channel at the stop
    "clock_drift_ms",  # agent audio sent minus clock time elapsed, stop -> first frame
)


@dataclass
class TurnLatency:
    """From the contact's last sound to the first agent sound of the reply, by stage (ms)."""

    vad_wait_ms: float
    stt_ms: float
    brain_ms: float
    tts_ms: float
    total_ms: float | None = None
    vad_lag_ms: float = 0.0
    vad_frame_ms: float = 0.0
    eot_wait_ms: float = 0.0
    queue_ms: float = 0.0
    playout_ms: float = 0.0
    tts_lead_ms: float = 0.0
    alignment_ms: float = 0.0
    clock_drift_ms: float = 0.0
    wire_gap_ms: float | None = None
    eot_probability: float | None = None
    eot_context: str | None = None
    speculated: bool = False
    # Its transcript sounded unfinished, so the end-of-turn wait was stretched (end_of_turn).
    held_unfinished: bool = False
    # Which judge set the end-of-turn wait: model, words_finished, words_unfinished, asked
    # (the collecting wait) or none (voice.end_of_turn); None: no end-of-turn gate.
    eot_judge: str | None = None
    # Where the reply's first frame sits on the recording's agent channel (ms); internal.
    agent_at_ms: float | None = field(default=None, repr=False)

    def stage_sum(self) -> float:
        return sum(float(getattr(self, name)) for name in STAGES)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: _round(getattr(self, name)) for name in STAGES}
        out["total_ms"] = _round(self.total_ms)
        out["wire_gap_ms"] = _round(self.wire_gap_ms)
        out["eot_probability"] = (
            None if self.eot_probability is None else round(self.eot_probability, 3)
        )
        out["eot_context"] = self.eot_context
        out["speculated"] = self.speculated
        out["held_unfinished"] = self.held_unfinished
        out["eot_judge"] = self.eot_judge
        return out


@dataclass
class CallMetrics:
    answer_to_first_audio_ms: float | None = None
    turns: list[TurnLatency] = field(default_factory=list)
    barge_ins: int = 0
    # The contact spoke again after a turn was taken as over and before the agent's reply
    # began: the end of the turn came too early (a premature cut-in, heard or not).
    early_turn_ends: int = 0
    # VAD stops held because the words so far sounded unfinished (voice.end_of_turn),
    # whether the contact then went on or not.
    held_for_words: int = 0

    def as_json(self) -> dict[str, Any]:
        totals = [t.total_ms for t in self.turns if t.total_ms is not None]
        wire = [t.wire_gap_ms for t in self.turns if t.wire_gap_ms is not None]
        summary: dict[str, Any] = {
            "answer_to_first_audio_ms": _round(self.answer_to_first_audio_ms),
            "turns": [t.as_json() for t in self.turns],
            "barge_ins": self.barge_ins,
            "early_turn_ends": self.early_turn_ends,
            "held_for_words": self.held_for_words,
        }
        if totals:
            summary["turn_latency_ms"] = {
                "p50": _round(statistics.median(totals)),
                "max": _round(max(totals)),
                "count": len(totals),
            }
        if wire:
            summary["wire_gap_ms"] = {
                "p50": _round(statistics.median(wire)),
                "max": _round(max(wire)),
                "count": len(wire),
            }
        return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
