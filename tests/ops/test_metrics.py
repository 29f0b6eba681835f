"""The process's instruments: turn latencies by stage, label values from fixed sets."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from voxline.ops.metrics import DatabaseCounts, Metrics, PlacementFailure
from voxline.voice.metrics import CallMetrics, TurnLatency


def stage_count(metrics: Metrics, stage: str) -> float:
    value = metrics.registry.get_sample_value(
        "voxline_turn_latency_seconds_count", {"stage": stage}
    )
    return value or 0.0


def test_turns_are_observed_per_stage_in_seconds() -> None:
    metrics = Metrics(process_collector=False)
    call = CallMetrics(
        turns=[
            TurnLatency(
                vad_wait_ms=400, stt_ms=120, brain_ms=300, tts_ms=80, total_ms=900, wire_gap_ms=910
            ),
            TurnLatency(vad_wait_ms=410, stt_ms=100, brain_ms=250, tts_ms=90, total_ms=None),
        ]
    )
    metrics.record_turns(call.as_json())
    assert stage_count(metrics, "vad_wait") == 2
    assert stage_count(metrics, "stt") == 2
    assert stage_count(metrics, "total") == 1  # a turn without a total is not one
    assert stage_count(metrics, "wire_gap") == 1  # measured on the recording when it could be
    total = metrics.registry.get_sample_value("voxline_turn_latency_seconds_sum", {"stage": "stt"})
    assert total is not None and abs(total - 0.22) < 1e-9


def test_figures_without_turns_or_with_junk_observe_nothing() -> None:
    metrics = Metrics(process_collector=False)
    metrics.record_turns(CallMetrics().as_json())
    metrics.record_turns({"turns": "many"})
    metrics.record_turns({"turns": [None, {"stt_ms": "fast"}, {"stt_ms": -1}]})
    assert all(stage_count(metrics, s) == 0 for s in ("vad_wait", "stt", "brain", "tts", "total"))


def test_placements_and_failures_carry_only_provider_and_reason() -> None:
    metrics = Metrics(process_collector=False)
    metrics.placed("twilio")
    metrics.placed(None)
    metrics.placement_failed("twilio", PlacementFailure.RETRYING)
    samples = {
        (s.name, tuple(sorted(s.labels.items())))
        for f in text_string_to_metric_families(metrics.render().decode())
        for s in f.samples
        if s.name.startswith("voxline_call_placement")
    }
    assert ("voxline_call_placements_total", (("provider", "twilio"),)) in samples
    assert ("voxline_call_placements_total", (("provider", "none"),)) in samples
    assert (
        "voxline_call_placement_failures_total",
        (("provider", "twilio"), ("reason", "retrying")),
    ) in samples


def test_database_gauges_render_the_last_counts_and_vanish_when_unknown() -> None:
    metrics = Metrics(process_collector=False)
    metrics.set_database_counts(
        DatabaseCounts(live_calls={("ringing", "sandbox"): 2}, webhooks_pending=5, webhooks_due=1)
    )
    text = metrics.render().decode()
    assert 'voxline_live_calls{provider="sandbox",status="ringing"} 2.0' in text
    assert "voxline_webhook_deliveries_pending 5.0" in text
    metrics.set_database_counts(None)
    text = metrics.render().decode()
    assert "voxline_live_calls{" not in text
    assert "voxline_metrics_database_errors_total 1.0" in text


def test_two_instances_never_share_a_registry() -> None:
    first, second = Metrics(), Metrics()
    first.placed("sandbox")
    assert (
        second.registry.get_sample_value("voxline_call_placements_total", {"provider": "sandbox"})
        is None
    )
