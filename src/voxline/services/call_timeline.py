"""A call's timeline: what happened on it, in order, from the events outbox.

Status changes are the call's webhook events (``call.queued`` … ``call.ended``), written by
the call store. What the agent does is written here, in the same numbered sequence: tool
calls (name, arguments, result cut short, latency, outcome), transfers, keys pressed,
barge-ins and speech over the agent that was not one (a backchannel, noise, echo). Those
types are not webhook event types, so no endpoint receives them.
``GET /calls/{id}/events`` serves the whole sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from voxline.errors import NotFound
from voxline.logging import get_logger
from voxline.services.call_records import select_call
from voxline.storage import events as outbox
from voxline.storage.db import Database
from voxline.storage.tables import calls, events

log = get_logger("services.call_timeline")

# What a session notes → the event type it is kept as.
NOTE_TYPES = {
    "tool_call": "call.tool_called",
    "transfer": "call.transferred",
    "dtmf": "call.dtmf_sent",
    "barge_in": "call.barge_in",
    "barge_in_ignored": "call.barge_in_ignored",
}
# The fields of a status event's call snapshot that the timeline shows.
STATUS_FIELDS = ("status", "end_reason", "answered_by")


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    seq: int
    type: str
    at: datetime
    data: dict[str, Any]


class CallTimeline:
    """The timeline of one live call, as its session writes to it."""

    def __init__(self, db: Database, call_id: str, organization_id: str) -> None:
        self.db = db
        self.call_id = call_id
        self.organization_id = organization_id

    async def record(self, kind: str, data: Mapping[str, Any]) -> None:
        event_type = NOTE_TYPES.get(kind)
        if event_type is None:
            raise ValueError(f"unknown timeline entry {kind!r}")
        try:
            async with self.db.write() as conn:
                # The call's row lock numbers its events one at a time (see storage.events).
                await conn.execute(
                    sa.select(calls.c.id).where(calls.c.id == self.call_id).with_for_update()
                )
                await outbox.append(
                    conn,
                    organization_id=self.organization_id,
                    event_type=event_type,
                    call_id=self.call_id,
                    payload=dict(data),
                )
        except Exception:
            log.exception("writing the call timeline failed", extra={"call_id": self.call_id})


def _entry_data(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    call = payload.get("call")
    if isinstance(call, Mapping):  # a status change: the call as it became
        return {name: call.get(name) for name in STATUS_FIELDS}
    return dict(payload)


async def call_timeline(db: Database, organization_id: str, call_id: str) -> list[TimelineEntry]:
    """The call's timeline, oldest first; :class:`NotFound` for a call the organization
    does not have."""
    async with db.read() as conn:
        if await select_call(conn, organization_id, call_id) is None:
            raise NotFound.resource("Call", call_id)
        rows = (
            await conn.execute(
                sa.select(events.c.seq, events.c.type, events.c.created_at, events.c.payload)
                .where(events.c.call_id == call_id, events.c.organization_id == organization_id)
                .order_by(events.c.seq)
            )
        ).all()
    return [
        TimelineEntry(row.seq, row.type, row.created_at, _entry_data(row.type, row.payload or {}))
        for row in rows
    ]
