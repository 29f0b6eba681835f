"""What a finished voice session leaves on its call: the recording and the latency figures."""

from __future__ import annotations

from typing import Any

from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow


async def save_session_outcome(
    db: Database, call_id: str, *, recording_path: str | None, metrics: dict[str, Any]
) -> None:
    values: dict[str, Any] = {"metrics": metrics, "updated_at": utcnow()}
    if recording_path is not None:
        values["recording_path"] = recording_path
    async with db.write() as conn:
        await conn.execute(calls.update().where(calls.c.id == call_id).values(**values))
