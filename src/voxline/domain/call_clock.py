"""The times a call is billed by: what providers report, bounded by facts Voxline controls.

A provider's event carries a time Voxline cannot check, even when the event itself is
validly signed. So every reported time is clamped to the call's own life so far (from its
creation to the moment the event is applied), a call is billed for at most its
``max_duration`` plus a small grace, and a call whose worker died is billed up to the last
time that worker was known to hold it, never up to the time recovery noticed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def bounded_time(reported: datetime, *, not_before: datetime, not_after: datetime) -> datetime:
    """``reported`` clamped to [``not_before``, ``not_after``] (naive times are UTC).

    Should the bounds cross (clocks of two nodes disagreeing), ``not_before`` wins: a call
    never has a time before its creation.
    """
    reported, low, high = _aware(reported), _aware(not_before), _aware(not_after)
    return max(low, min(reported, high))


def answered_limit_seconds(
    max_duration_seconds: float, *, grace_seconds: float, time_scale: float = 1.0
) -> float:
    """The most connected time a call may be billed: its ``max_duration`` (in the time of
    the line that carries it; sandbox calls run on a scaled clock) plus the grace a provider
    needs to act on the hang-up Voxline asks for at the deadline."""
    return max(0.0, max_duration_seconds * time_scale) + max(0.0, grace_seconds)


def billable_seconds(
    started_at: datetime | None, ended_at: datetime | None, *, limit_seconds: float
) -> float:
    """Connected time between answer and end: 0 when either is unknown or they are out of
    order, at most ``limit_seconds``."""
    if started_at is None or ended_at is None:
        return 0.0
    connected = (_aware(ended_at) - _aware(started_at)).total_seconds()
    return min(max(0.0, connected), max(0.0, limit_seconds))


def last_alive(
    *,
    lease_expires_at: datetime | None,
    lease_seconds: float,
    started_at: datetime | None,
    created_at: datetime,
) -> datetime:
    """When a call whose worker stopped was last known alive: the last renewal of its lease
    (every renewal sets the lease to expire ``lease_seconds`` after it), never before the
    call was answered or created."""
    floor = _aware(started_at or created_at)
    if lease_expires_at is None:
        return floor
    renewed = _aware(lease_expires_at) - timedelta(seconds=lease_seconds)
    return max(floor, renewed)
