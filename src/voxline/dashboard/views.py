"""What the call page's timeline shows, shaped for its template (the latency card is
:mod:`voxline.dashboard.latency`).

Templates only lay these out; every number and label is decided here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from voxline.services.call_timeline import NOTE_TYPES, TimelineEntry

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
