"""The daily calling window of a batch, read on the contact's own wall clock.

A window is ``start`` to ``end`` (local times, ``start < end``, so it never crosses midnight)
on ``working_days`` (ISO weekdays, 1 = Monday … 7 = Sunday), evaluated in an IANA time zone:
the contact's own when it has one, else the batch's. Without ``start``/``end`` every hour of a
working day is allowed.

Daylight-saving changes follow the wall clock: "may call now" compares the local time of the
instant with ``start <= local < end``. On a spring-forward day a ``start`` that does not
exist (02:30 in New York) opens the window at the first instant after the gap (03:00 EDT);
an ``end`` inside the gap closes it there. On a fall-back day a ``start`` that happens twice
opens at its first occurrence; a local time in the repeated hour is inside the window both
times it occurs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voxline.errors import ValidationFailed

ALL_DAYS = frozenset(range(1, 8))
DEFAULT_WORKING_DAYS = frozenset(range(1, 6))
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_time(text: str, field: str) -> time:
    """``HH:MM`` (24 h) as a time; 422 naming ``field`` otherwise."""
    match = _HHMM.match(text)
    if match is None:
        raise ValidationFailed.field(field, "must be a time as HH:MM (00:00 to 23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone called ``name``; 422 naming ``field`` for an unknown or unsafe name."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise ValidationFailed.field(field, "must be an IANA time zone such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.field(
            field, "must be an IANA time zone such as Europe/Paris"
        ) from None


def _local_at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The first instant (aware, UTC) at which the wall clock in ``tz`` reads at least
    ``at`` on ``day``: ``at`` itself, its first occurrence when it happens twice, the end of
    the gap when it does not exist."""
    naive = datetime.combine(day, at)
    early = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early.astimezone(tz).replace(tzinfo=None) == naive:
        return min(early, late) if late.astimezone(tz).replace(tzinfo=None) == naive else early
    # ``naive`` falls in a gap: ``late`` is before it, ``early`` after; the gap's end is the
    # first instant whose local time is at or past ``at``.
    low, high = min(early, late), max(early, late)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        local = middle.astimezone(tz).replace(tzinfo=None)
        if local >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """When a batch may call: ``start``/``end`` both set or both ``None``."""

    start: time | None = None
    end: time | None = None
    working_days: frozenset[int] = DEFAULT_WORKING_DAYS

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValidationFailed.field("end_time", "give both start_time and end_time")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValidationFailed.field("end_time", "must be after start_time")
        if not self.working_days or not self.working_days <= ALL_DAYS:
            raise ValidationFailed.field(
                "working_days", "must list at least one day, each 1 (Monday) to 7 (Sunday)"
            )

    def allows(self, instant: datetime, tz: ZoneInfo) -> bool:
        """Whether a call may start at ``instant`` (aware) for a contact living in ``tz``."""
        local = instant.astimezone(tz)
        if local.isoweekday() not in self.working_days:
            return False
        if self.start is None or self.end is None:
            return True
        wall = local.time().replace(tzinfo=None)
        return self.start <= wall < self.end

    def next_allowed(self, instant: datetime, tz: ZoneInfo) -> datetime:
        """``instant`` when the window is open then, else the next instant (UTC) it opens."""
        if self.allows(instant, tz):
            return instant
        today = instant.astimezone(tz).date()
        for offset in range(8):
            day = today + timedelta(days=offset)
            if day.isoweekday() not in self.working_days:
                continue
            opens = _local_at(day, self.start or time(0), tz)
            if opens > instant:
                return opens
        raise AssertionError("a window with a working day opens within a week")

    def day_of(self, instant: datetime, tz: ZoneInfo) -> date:
        """The local calendar day of ``instant`` in ``tz`` (for daily call limits)."""
        return instant.astimezone(tz).date()
