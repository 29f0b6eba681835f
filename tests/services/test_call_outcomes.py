"""A finished session's outcome: its figures kept on the call, its turns observed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import Tenant, insert_call
from voxline.ops.metrics import Metrics
from voxline.services.call_outcomes import save_session_outcome
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.voice.metrics import CallMetrics, TurnLatency


async def test_turn_latencies_are_observed_once_the_figures_are_kept(
    db: Database, tenant: Tenant
) -> None:
    call_id = await insert_call(db, tenant.org_id, None, status="in_progress")
    figures = CallMetrics(
        turns=[TurnLatency(vad_wait_ms=400, stt_ms=120, brain_ms=300, tts_ms=80, total_ms=900)]
    ).as_json()
    metrics = Metrics(process_collector=False)

    await save_session_outcome(db, call_id, recording_path=None, metrics=figures, latencies=metrics)

    async with db.read() as conn:
        stored = (
            await conn.execute(sa.select(calls.c.metrics).where(calls.c.id == call_id))
        ).scalar_one()
    assert stored["turns"][0]["total_ms"] == 900
    total = metrics.registry.get_sample_value(
        "voxline_turn_latency_seconds_sum", {"stage": "total"}
    )
    assert total == 0.9


class Failing:
    """A store whose write fails: nothing may be observed for figures never kept."""

    async def save_session_outcome(self, *_: Any, **__: Any) -> None:
        raise RuntimeError("disk full")


async def test_nothing_is_observed_when_the_figures_were_not_kept(db: Database) -> None:
    metrics = Metrics(process_collector=False)
    figures: Mapping[str, Any] = CallMetrics(
        turns=[TurnLatency(vad_wait_ms=1, stt_ms=1, brain_ms=1, tts_ms=1, total_ms=4)]
    ).as_json()
    with pytest.raises(RuntimeError):
        await save_session_outcome(
            db,
            "no-such-call",
            recording_path=None,
            metrics=dict(figures),
            store=Failing(),  # type: ignore[arg-type]
            latencies=metrics,
        )
    assert (
        metrics.registry.get_sample_value("voxline_turn_latency_seconds_count", {"stage": "total"})
        is None
    )
