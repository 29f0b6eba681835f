"""The call page's latency card, shaped for its template: per turn, the gap the contact heard
as the headline and the stages that explain it as one stacked bar.

A turn measured on the recording (``wire_gap_ms``, :mod:`voxline.voice.turn_gap`) is drawn
so that what is filled adds up to the gap exactly:

- its positive stages lie end to end, in the order they happen (:data:`STAGES`);
- a stage that came out negative (``alignment``: the recording's agent channel ran ahead of
  the contact's; ``clock_drift``: the media clock sent audio faster than time passed) is
  never a negative width: it is listed as a note and drawn as a hatched span *taken back*
  from the end of the positive stages, so the bar's solid part ends at the gap;
- whatever the stages do not account for (the gap minus their sum, a block or two) is an
  ``unaccounted`` segment when positive and taken back with the negative stages otherwise.

So ``sum(segment.ms) - taken_back_ms`` is ``wire_gap_ms`` for every such turn, to within
:data:`RESIDUAL_FLOOR_MS` (the stored figures' rounding).

A turn without a wire gap (a text call, a call from before the measurement, a turn where the
agent spoke over the contact) is drawn as the dashboard always drew it: the pipeline's end of
speech, speech to text, agent and text to speech, with a note saying so.

The call's summary is the median and the 90th percentile of its turns' wire gaps (linear
interpolation between closest ranks, as numpy's default percentile), or, with none, the
pipeline's median and worst as before. Templates only lay these out: every number, width and
label is decided here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxline.voice.metrics import STAGES as STAGE_KEYS

__all__ = [
    "BAR_WIDTH",
    "FALLBACK_STAGES",
    "RESIDUAL_FLOOR_MS",
    "STAGES",
    "LatencyCard",
    "Note",
    "Segment",
    "TurnView",
    "latency_card",
    "ms_text",
    "percentile",
]

BAR_WIDTH = 600

_LABELS = {
    "vad_lag_ms": "VAD release",
    "vad_wait_ms": "end of speech",
    "vad_frame_ms": "VAD window",
    "eot_wait_ms": "end-of-turn model",
    "queue_ms": "queue",
    "stt_ms": "speech to text",
    "brain_ms": "agent",
    "tts_ms": "text to speech",
    "playout_ms": "media tick",
    "tts_lead_ms": "voice lead-in",
    "alignment_ms": "channel alignment",
    "clock_drift_ms": "clock drift",
}
# Every stage of a measured turn, in order (voxline.voice.metrics.STAGES), with its label.
STAGES: tuple[tuple[str, str], ...] = tuple((key, _LABELS[key]) for key in STAGE_KEYS)
# What a turn without a wire gap shows: the pipeline's four stages.
FALLBACK_STAGES: tuple[tuple[str, str], ...] = (
    ("vad_wait_ms", "end of speech"),
    ("stt_ms", "speech to text"),
    ("brain_ms", "agent"),
    ("tts_ms", "text to speech"),
)
UNACCOUNTED = ("unaccounted", "not accounted for by the stages")
# Each stored figure is rounded to 0.1 ms: a residual under this is that rounding, not time
# the stages missed, and is left out of the bar.
RESIDUAL_FLOOR_MS = 1.0


@dataclass(frozen=True, slots=True)
class Segment:
    """One stage's span of a bar: ``x`` and ``width`` in bar units (of :data:`BAR_WIDTH`)."""

    stage: str
    label: str
    ms: float
    x: float
    width: float

    @property
    def title(self) -> str:
        return f"{self.label}: {ms_text(self.ms)}"


@dataclass(frozen=True, slots=True)
class Note:
    """A stage that came out negative (or a negative residual): taken back from the bar."""

    stage: str
    label: str
    ms: float  # negative

    @property
    def text(self) -> str:
        return f"{self.label} {ms_text(self.ms)}"


@dataclass(frozen=True, slots=True)
class TurnView:
    """One turn. ``headline_ms`` is the wire gap when ``on_wire``, else the pipeline's total."""

    number: int
    on_wire: bool
    headline_ms: float
    stage_sum_ms: float
    segments: tuple[Segment, ...]
    notes: tuple[Note, ...]
    speculated: bool
    taken_back_x: float = 0.0  # where the hatched span starts (the gap, on the bar's scale)
    taken_back_width: float = 0.0

    @property
    def headline(self) -> str:
        return ms_text(self.headline_ms)

    @property
    def taken_back_ms(self) -> float:
        return -sum(note.ms for note in self.notes)

    @property
    def filled_ms(self) -> float:
        return sum(segment.ms for segment in self.segments)


@dataclass(frozen=True, slots=True)
class LatencyCard:
    turns: tuple[TurnView, ...]
    on_wire_count: int
    p50_ms: float | None  # of the wire gaps (else of the pipeline totals, see ``on_wire``)
    p90_ms: float | None  # of the wire gaps only
    worst_ms: float | None  # of the pipeline totals, when no turn was measured on the wire
    answer_to_first_audio_ms: float | None
    legend: tuple[tuple[str, str], ...]
    width: int = BAR_WIDTH

    @property
    def on_wire(self) -> bool:
        return self.on_wire_count > 0

    @property
    def fallback_count(self) -> int:
        return len(self.turns) - self.on_wire_count


def ms_text(value: float) -> str:
    """A figure as the page shows it: whole milliseconds (``-20 ms`` when negative)."""
    return f"{round(value)} ms"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0 to 100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _ms(value: Any) -> float:
    number = _number(value)
    return number if number is not None else 0.0


def _measured(turn: Mapping[str, Any]) -> TurnView | None:
    """A turn measured on the wire, unscaled (``x``/``width`` in ms); None without a gap."""
    gap = _number(turn.get("wire_gap_ms"))
    if gap is None or gap < 0:
        return None
    segments: list[Segment] = []
    notes: list[Note] = []
    x = 0.0
    stage_sum = 0.0
    for key, label in STAGES:
        ms = _ms(turn.get(key))
        stage_sum += ms
        if ms > 0:
            segments.append(Segment(key.removesuffix("_ms"), label, ms, x, ms))
            x += ms
        elif ms < 0:
            notes.append(Note(key.removesuffix("_ms"), label, ms))
    residual = gap - stage_sum
    if residual >= RESIDUAL_FLOOR_MS:
        segments.append(Segment(*UNACCOUNTED, residual, x, residual))
        x += residual
    elif residual <= -RESIDUAL_FLOOR_MS:
        notes.append(Note(*UNACCOUNTED, residual))
    taken = -sum(note.ms for note in notes)
    return TurnView(
        number=0,
        on_wire=True,
        headline_ms=gap,
        stage_sum_ms=stage_sum,
        segments=tuple(segments),
        notes=tuple(notes),
        speculated=bool(turn.get("speculated")),
        taken_back_x=max(x - taken, 0.0),
        taken_back_width=taken,
    )


def _pipeline(turn: Mapping[str, Any]) -> TurnView:
    """A turn without a wire gap, unscaled: the four pipeline stages as before."""
    segments: list[Segment] = []
    x = 0.0
    for key, label in FALLBACK_STAGES:
        ms = max(_ms(turn.get(key)), 0.0)
        segments.append(Segment(key.removesuffix("_ms"), label, ms, x, ms))
        x += ms
    total = max(x, _ms(turn.get("total_ms")))
    return TurnView(
        number=0,
        on_wire=False,
        headline_ms=total,
        stage_sum_ms=x,
        segments=tuple(segments),
        notes=(),
        speculated=bool(turn.get("speculated")),
    )


def _scaled(view: TurnView, number: int, scale: float) -> TurnView:
    return TurnView(
        number=number,
        on_wire=view.on_wire,
        headline_ms=view.headline_ms,
        stage_sum_ms=view.stage_sum_ms,
        segments=tuple(
            Segment(s.stage, s.label, s.ms, s.x * scale, s.width * scale) for s in view.segments
        ),
        notes=view.notes,
        speculated=view.speculated,
        taken_back_x=view.taken_back_x * scale,
        taken_back_width=view.taken_back_width * scale,
    )


def latency_card(metrics: Mapping[str, Any] | None, width: int = BAR_WIDTH) -> LatencyCard:
    """The card of a call's ``metrics`` (as stored on the call): one bar per turn, all bars
    on one scale (the longest bar, filled or taken back, spans ``width``)."""
    metrics = metrics or {}
    turns = metrics.get("turns")
    rows = [t for t in turns if isinstance(t, Mapping)] if isinstance(turns, Sequence) else []
    views = [_measured(row) or _pipeline(row) for row in rows]
    extent = max(
        [sum(s.width for s in v.segments) for v in views] + [v.headline_ms for v in views] + [1.0]
    )
    scale = width / extent
    shown = tuple(_scaled(v, n, scale) for n, v in enumerate(views, start=1))
    wire = [v.headline_ms for v in shown if v.on_wire]
    pipeline = [v.headline_ms for v in shown if not v.on_wire]
    if wire:
        p50: float | None = statistics.median(wire)
        p90: float | None = percentile(wire, 90)
        worst = None
    else:
        p50 = statistics.median(pipeline) if pipeline else None
        p90 = None
        worst = max(pipeline) if pipeline else None
    seen = {s.stage for v in shown for s in v.segments}
    legend = tuple(
        (key.removesuffix("_ms"), label)
        for key, label in (*STAGES, ("unaccounted_ms", UNACCOUNTED[1]))
        if key.removesuffix("_ms") in seen
    )
    return LatencyCard(
        turns=shown,
        on_wire_count=len(wire),
        p50_ms=p50,
        p90_ms=p90,
        worst_ms=worst,
        answer_to_first_audio_ms=_number(metrics.get("answer_to_first_audio_ms")),
        legend=legend,
        width=width,
    )
