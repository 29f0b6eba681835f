"""The process's Prometheus metrics: one :class:`Metrics` per runtime, with its own registry.

Each runtime (each app, each test) owns a ``CollectorRegistry`` instead of the library's
global one, so building many apps in one process never registers a name twice.

Label values come from small fixed sets (call statuses, provider types, placement failure
reasons, turn stages, HTTP methods, route templates, status classes): never a phone number,
an id or a raw path, so the number of series stays bounded whatever the traffic.

Counters and histograms move as things happen; the gauges read from the database (live
calls, the webhook outbox) are counted by :func:`voxline.services.gauges.count` right before
each scrape renders them, so their cost is one grouped count per scrape, not per call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "TURN_STAGES", "DatabaseCounts", "Metrics", "PlacementFailure"]

# The classic text format, which generate_latest writes (names escaped to underscores) and
# every Prometheus version reads; newer clients label it ``version=1.0.0``.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The stages of a caller turn as voice.metrics.TurnLatency stores them (``<stage>_ms``).
# ``wire_gap``: the gap as the contact heard it, measured on the call's recorded channels.
TURN_STAGES = ("vad_wait", "eot_wait", "stt", "brain", "tts", "total", "wire_gap")

# Seconds. A turn's stages run from tens of milliseconds (VAD hangover, TTS first chunk) to
# seconds (a slow LLM); the loop's lag is good under 20 ms (one media frame) and bad above.
_TURN_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

NO_PROVIDER = "none"
UNMATCHED_ROUTE = "unmatched"


class PlacementFailure(StrEnum):
    """Why a placement attempt did not dial (the ``reason`` label)."""

    # The call could not be turned into a request (no credentials, no adapter).
    INVALID = "invalid"
    # The provider refused it for good (a 4xx, a rejected number).
    REJECTED = "rejected"
    # A retryable failure (timeout, 5xx, 429) with attempts left: the call is queued again.
    RETRYING = "retrying"
    # A retryable failure on the last attempt: the call failed.
    EXHAUSTED = "exhausted"
    # The request timed out and the provider could not say whether it dialed
    # (``end_reason=placement_unknown``).
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class DatabaseCounts:
    """What a scrape read from the database: live calls by (status, provider), and the
    webhook outbox (pending deliveries, and those of them due now)."""

    live_calls: Mapping[tuple[str, str], int] = field(default_factory=dict)
    webhooks_pending: int = 0
    webhooks_due: int = 0


class _DatabaseGauges(Collector):
    """The gauges counted in the database at scrape time, rendered from the last counts."""

    def __init__(self) -> None:
        self.counts: DatabaseCounts | None = None

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only, so the registry can check them for clashes before any scrape.
        yield from self._families(DatabaseCounts())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.counts is not None:
            yield from self._families(self.counts)

    @staticmethod
    def _families(counts: DatabaseCounts) -> Iterator[GaugeMetricFamily]:
        live = GaugeMetricFamily(
            "voxline_live_calls",
            "Calls not yet ended (queued, ringing, in progress) in the whole deployment, "
            "by status and provider; counted at scrape time.",
            labels=["status", "provider"],
        )
        for (status, provider), n in sorted(counts.live_calls.items()):
            live.add_metric([status, provider], n)
        yield live
        yield GaugeMetricFamily(
            "voxline_webhook_deliveries_pending",
            "Webhook deliveries neither delivered nor given up (the outbox), including those "
            "waiting for a retry; counted at scrape time.",
            value=counts.webhooks_pending,
        )
        yield GaugeMetricFamily(
            "voxline_webhook_deliveries_due",
            "Pending webhook deliveries whose next attempt is due now (the backlog).",
            value=counts.webhooks_due,
        )


class Metrics:
    """The instruments of one process. ``process_collector`` adds the standard
    ``process_*`` series (CPU, memory, file descriptors) where the platform has them."""

    def __init__(self, *, process_collector: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if process_collector:
            ProcessCollector(registry=self.registry)
        self.placements = Counter(
            "voxline_call_placements",
            "Calls the provider accepted to dial, by provider.",
            ["provider"],
            registry=self.registry,
        )
        self.placement_failures = Counter(
            "voxline_call_placement_failures",
            "Placement attempts that did not dial, by provider and reason.",
            ["provider", "reason"],
            registry=self.registry,
        )
        self.turn_latency = Histogram(
            "voxline_turn_latency_seconds",
            "From the caller's last word to the agent's first audio of the reply, by stage.",
            ["stage"],
            buckets=_TURN_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "voxline_event_loop_lag_seconds",
            "How late the event loop woke a sleeping task (time it spent unable to run one).",
            buckets=_LAG_BUCKETS,
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "voxline_http_request_duration_seconds",
            "HTTP requests served, by method, route template and status class.",
            ["method", "route", "status"],
            buckets=_HTTP_BUCKETS,
            registry=self.registry,
        )
        self.database = _DatabaseGauges()
        self.registry.register(self.database)
        self.scrape_errors = Counter(
            "voxline_metrics_database_errors",
            "Scrapes whose database-backed gauges could not be read (they are then absent).",
            registry=self.registry,
        )

    # Events.

    def placed(self, provider: str | None) -> None:
        self.placements.labels(provider=provider or NO_PROVIDER).inc()

    def placement_failed(self, provider: str | None, reason: PlacementFailure) -> None:
        self.placement_failures.labels(provider=provider or NO_PROVIDER, reason=reason).inc()

    def record_turns(self, metrics: Mapping[str, Any]) -> None:
        """Observe each turn of a call's latency figures (``voice.metrics.CallMetrics``
        as stored on the call); stages a turn did not measure are skipped."""
        turns = metrics.get("turns")
        if not isinstance(turns, list):
            return
        for turn in turns:
            if not isinstance(turn, Mapping):
                continue
            for stage in TURN_STAGES:
                value = turn.get(f"{stage}_ms")
                if isinstance(value, int | float) and value >= 0:
                    self.turn_latency.labels(stage=stage).observe(value / 1000)

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_duration.labels(method=method, route=route, status=f"{status // 100}xx").observe(
            seconds
        )

    # Scrape-time gauges.

    def set_database_counts(self, counts: DatabaseCounts | None) -> None:
        """What the next render reports of the database; None (the read failed) leaves its
        gauges out of the scrape and counts the error."""
        self.database.counts = counts
        if counts is None:
            self.scrape_errors.inc()

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)
