"""What the call page shows, shaped for its templates: latency bars and timeline entries.

Templates only lay these out; every number and label is decided here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxline.services.call_timeline import NOTE_TYPES, TimelineEntry

# A turn's stages in the order they happen (voxline.voice.metrics.TurnLatency).
STAGES = (
    ("vad_wait_ms", "end of speech"),
    ("stt_ms", "speech to text"),
    ("brain_ms", "agent"),
    ("tts_ms", "text to speech"),
)
BAR_WIDTH = 600


@dataclass(frozen=True, slots=True)
class Segment:
    stage: str
    label: str
    ms: float
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class TurnBar:
    number: int
    total_ms: float
    segments: list[Segment]


def _ms(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and value >= 0 else 0.0


def latency_bars(metrics: Mapping[str, Any] | None, width: int = BAR_WIDTH) -> list[TurnBar]:
    """One bar per turn of ``metrics["turns"]``, its stages side by side, all bars on one
    scale (the slowest turn spans ``width``)."""
    turns = metrics.get("turns") if metrics else None
    if not isinstance(turns, Sequence):
        return []
    rows = [t for t in turns if isinstance(t, Mapping)]
    totals = [max(sum(_ms(t.get(key)) for key, _ in STAGES), _ms(t.get("total_ms"))) for t in rows]
    scale = width / max([*totals, 1.0])
    bars = []
    for number, (turn, total) in enumerate(zip(rows, totals, strict=True), start=1):
        x = 0.0
        segments = []
        for key, label in STAGES:
            ms = _ms(turn.get(key))
            segments.append(Segment(key.removesuffix("_ms"), label, ms, x, ms * scale))
            x += ms * scale
        bars.append(TurnBar(number, total, segments))
    return bars


_KINDS = {event_type: kind for kind, event_type in NOTE_TYPES.items()}


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One entry: ``kind`` is ``status``, ``tool_call``, ``transfer``, ``dtmf``,
    ``barge_in`` or ``barge_in_ignored``; ``event`` its event type; ``offset`` is seconds
    since the call's first entry."""

    kind: str
    event: str
    offset: float
    data: dict[str, Any]


def timeline_items(entries: Sequence[TimelineEntry]) -> list[TimelineItem]:
    if not entries:
        return []
    start = entries[0].at
    return [
        TimelineItem(
            kind=_KINDS.get(entry.type, "status"),
            event=entry.type,
            offset=(entry.at - start).total_seconds(),
            data=entry.data,
        )
        for entry in entries
    ]
