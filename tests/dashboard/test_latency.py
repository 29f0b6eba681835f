"""The call page's latency card: the gap heard as the headline, stages that add up to it,
negative stages taken back rather than drawn backwards, and the fallback for turns without a
gap measured on the recording."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from voxline.dashboard.latency import (
    BAR_WIDTH,
    RESIDUAL_FLOOR_MS,
    STAGES,
    TurnView,
    latency_card,
    ms_text,
    percentile,
)
from voxline.voice.metrics import STAGES as METRIC_STAGES
from voxline.voice.metrics import CallMetrics, TurnLatency

# README's example turn: the stages add to 1003.6 ms, alignment and clock drift take 33.6 back.
README_TURN: dict[str, Any] = {
    "vad_lag_ms": 130.0,
    "vad_wait_ms": 224.0,
    "vad_frame_ms": 16.0,
    "eot_wait_ms": 107.4,
    "queue_ms": 0.0,
    "stt_ms": 505.0,
    "brain_ms": 0.2,
    "tts_ms": 12.1,
    "playout_ms": 8.9,
    "tts_lead_ms": 0.0,
    "alignment_ms": -20.0,
    "clock_drift_ms": -13.6,
    "total_ms": 970.0,
    "wire_gap_ms": 970.0,
    "eot_probability": 0.736,
    "eot_context": None,
    "speculated": True,
}
OLD_TURN: dict[str, Any] = {
    "vad_wait_ms": 300,
    "stt_ms": 120,
    "brain_ms": 410,
    "tts_ms": 180,
    "total_ms": 1010,
}


def _turn(**stages: float | None) -> dict[str, Any]:
    turn: dict[str, Any] = {key: 0.0 for key, _ in STAGES}
    turn.update({f"{k}_ms": v for k, v in stages.items()})
    return turn


def _adds_up(turn: TurnView) -> float:
    """What the bar says the gap is: the filled segments less what is taken back."""
    return turn.filled_ms - turn.taken_back_ms


def test_every_stage_of_the_metrics_is_drawn_in_their_order() -> None:
    assert tuple(key for key, _ in STAGES) == METRIC_STAGES


def test_a_measured_turn_heads_with_the_wire_gap_and_its_segments_add_up_to_it() -> None:
    card = latency_card({"turns": [README_TURN], "answer_to_first_audio_ms": 0.2})
    (turn,) = card.turns
    assert turn.on_wire and turn.headline == "970 ms"
    assert turn.stage_sum_ms == pytest.approx(970.0)
    assert turn.filled_ms == pytest.approx(1003.6)
    assert _adds_up(turn) == pytest.approx(970.0)
    assert [s.stage for s in turn.segments] == [
        "vad_lag",
        "vad_wait",
        "vad_frame",
        "eot_wait",
        "stt",
        "brain",
        "tts",
        "playout",
    ]
    assert all(s.width > 0 for s in turn.segments)
    # Negative stages are notes, taken back from the end of the bar, never negative widths.
    assert [(n.stage, n.ms, n.text) for n in turn.notes] == [
        ("alignment", -20.0, "channel alignment -20 ms"),
        ("clock_drift", -13.6, "clock drift -14 ms"),
    ]
    end = turn.segments[-1].x + turn.segments[-1].width
    assert turn.taken_back_x + turn.taken_back_width == pytest.approx(end)
    assert turn.taken_back_x == pytest.approx(970.0 * BAR_WIDTH / 1003.6)
    assert turn.speculated
    assert card.on_wire and card.p50_ms == card.p90_ms == 970.0
    assert card.answer_to_first_audio_ms == 0.2


def test_a_gap_longer_than_its_stages_shows_the_rest_as_unaccounted() -> None:
    (turn,) = latency_card({"turns": [_turn(vad_wait=400, stt=500, wire_gap=1000)]}).turns
    assert [(s.stage, s.ms) for s in turn.segments] == [
        ("vad_wait", 400),
        ("stt", 500),
        ("unaccounted", 100),
    ]
    assert turn.notes == () and turn.taken_back_width == 0
    assert _adds_up(turn) == pytest.approx(1000)


def test_a_gap_shorter_than_its_stages_takes_the_excess_back_as_a_note() -> None:
    (turn,) = latency_card({"turns": [_turn(vad_wait=400, stt=550, wire_gap=900)]}).turns
    assert [s.stage for s in turn.segments] == ["vad_wait", "stt"]
    assert [(n.stage, n.ms) for n in turn.notes] == [("unaccounted", -50)]
    assert _adds_up(turn) == pytest.approx(900)


def test_the_stored_figures_rounding_is_not_drawn_as_a_segment() -> None:
    gap = 900 + RESIDUAL_FLOOR_MS / 2
    (turn,) = latency_card({"turns": [_turn(vad_wait=400, stt=500, wire_gap=gap)]}).turns
    assert [s.stage for s in turn.segments] == ["vad_wait", "stt"] and turn.notes == ()
    assert abs(_adds_up(turn) - gap) < RESIDUAL_FLOOR_MS


def test_a_turn_without_a_wire_gap_falls_back_to_the_pipeline_stages_and_says_so() -> None:
    card = latency_card({"turns": [OLD_TURN], "turn_latency_ms": {"p50": 1010, "max": 1010}})
    (turn,) = card.turns
    assert not turn.on_wire
    assert turn.headline == "1010 ms"
    assert [(s.stage, s.ms) for s in turn.segments] == [
        ("vad_wait", 300),
        ("stt", 120),
        ("brain", 410),
        ("tts", 180),
    ]
    assert turn.notes == ()
    assert not card.on_wire and card.p90_ms is None
    assert (card.p50_ms, card.worst_ms) == (1010, 1010)


def test_pipeline_turns_are_not_counted_in_the_wire_percentiles() -> None:
    turns = [_turn(stt=v, wire_gap=v) for v in (400, 600, 800, 1000)] + [OLD_TURN]
    card = latency_card({"turns": turns})
    assert card.on_wire_count == 4 and card.fallback_count == 1
    assert [t.on_wire for t in card.turns] == [True] * 4 + [False]
    assert card.p50_ms == 700
    assert card.p90_ms == pytest.approx(940)
    assert card.worst_ms is None


def test_the_summary_agrees_with_what_the_session_stores() -> None:
    metrics = CallMetrics(
        turns=[
            TurnLatency(vad_wait_ms=200, stt_ms=300, brain_ms=50, tts_ms=20, wire_gap_ms=g)
            for g in (612.3, 580.0, 701.9)
        ]
    )
    stored = metrics.as_json()
    card = latency_card(stored)
    assert card.p50_ms == stored["wire_gap_ms"]["p50"]
    assert [t.headline_ms for t in card.turns] == [612.3, 580.0, 701.9]


def test_all_bars_share_one_scale() -> None:
    card = latency_card({"turns": [_turn(stt=500, wire_gap=500), _turn(stt=250, wire_gap=250)]})
    long, short = card.turns
    assert long.segments[0].width == BAR_WIDTH
    assert short.segments[0].width == BAR_WIDTH / 2


@pytest.mark.parametrize(
    "metrics",
    [None, {}, {"turns": None}, {"turns": "x"}, {"turns": []}],
    ids=["none", "empty", "null-turns", "text-turns", "no-turns"],
)
def test_no_turns_give_an_empty_card(metrics: dict[str, Any] | None) -> None:
    card = latency_card(metrics)
    assert card.turns == () and card.p50_ms is None and not card.on_wire


def test_what_is_not_a_number_counts_as_nothing() -> None:
    odd = {"stt_ms": "fast", "brain_ms": True, "tts_ms": 100, "wire_gap_ms": "970"}
    (turn,) = latency_card({"turns": [odd, "not a turn"]}).turns
    assert not turn.on_wire  # a gap that is no number is no gap
    assert [s.ms for s in turn.segments] == [0, 0, 0, 100]
    (negative,) = latency_card({"turns": [_turn(stt=100, wire_gap=-5)]}).turns
    assert not negative.on_wire


def test_percentile_interpolates_like_numpy() -> None:
    for values in ([5.0], [1.0, 2.0], [970.0, 120.5, 333.3, 1500.0, 88.0], list(range(11))):
        for q in (50, 90):
            assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    with pytest.raises(ValueError):
        percentile([], 90)


def test_figures_are_whole_milliseconds() -> None:
    assert ms_text(969.6) == "970 ms"
    assert ms_text(-13.6) == "-14 ms"
    assert ms_text(0.2) == "0 ms"
