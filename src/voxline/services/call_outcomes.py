"""What a finished voice session leaves on its call: the recording and the latency figures."""

from __future__ import annotations

from typing import Any

from voxline.services.ports import CallStore, TurnLatencies
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database


async def save_session_outcome(
    db: Database,
    call_id: str,
    *,
    recording_path: str | None,
    metrics: dict[str, Any],
    store: CallStore = CALL_STORE,
    latencies: TurnLatencies | None = None,
) -> None:
    """Keep ``metrics`` on the call, and ``recording_path`` when the session recorded one;
    once kept, observe its turns in ``latencies``."""
    async with db.write() as conn:
        await store.save_session_outcome(
            conn, call_id, recording_path=recording_path, metrics=metrics
        )
    if latencies is not None:
        latencies.record_turns(metrics)
