"""Latency figures of a live call, as stored on the call object (``metrics``)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TurnLatency:
    """From the contact's last word to the first agent audio of the reply, by stage (ms)."""

    vad_wait_ms: float
    stt_ms: float
    brain_ms: float
    tts_ms: float
    total_ms: float | None = None


@dataclass
class CallMetrics:
    answer_to_first_audio_ms: float | None = None
    turns: list[TurnLatency] = field(default_factory=list)
    barge_ins: int = 0

    def as_json(self) -> dict[str, Any]:
        totals = [t.total_ms for t in self.turns if t.total_ms is not None]
        summary: dict[str, Any] = {
            "answer_to_first_audio_ms": _round(self.answer_to_first_audio_ms),
            "turns": [{k: _round(v) for k, v in asdict(t).items()} for t in self.turns],
            "barge_ins": self.barge_ins,
        }
        if totals:
            summary["turn_latency_ms"] = {
                "p50": _round(statistics.median(totals)),
                "max": _round(max(totals)),
                "count": len(totals),
            }
        return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
