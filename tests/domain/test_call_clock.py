"""The bounds on the times a call is billed by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from voxline.domain.call_clock import (
    answered_limit_seconds,
    billable_seconds,
    bounded_time,
    last_alive,
)

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NOW = CREATED + timedelta(minutes=10)


def test_a_time_within_the_calls_life_is_kept() -> None:
    reported = CREATED + timedelta(seconds=42)
    assert bounded_time(reported, not_before=CREATED, not_after=NOW) == reported


def test_a_time_before_the_call_was_created_becomes_its_creation() -> None:
    reported = CREATED - timedelta(days=3 * 365)
    assert bounded_time(reported, not_before=CREATED, not_after=NOW) == CREATED


def test_a_time_in_the_future_becomes_now() -> None:
    reported = NOW + timedelta(days=30)
    assert bounded_time(reported, not_before=CREATED, not_after=NOW) == NOW


def test_a_naive_time_is_read_as_utc() -> None:
    reported = (CREATED + timedelta(seconds=5)).replace(tzinfo=None)
    assert bounded_time(reported, not_before=CREATED, not_after=NOW) == CREATED + timedelta(
        seconds=5
    )


def test_crossed_bounds_never_give_a_time_before_creation() -> None:
    assert bounded_time(NOW, not_before=NOW, not_after=CREATED) == NOW


def test_the_billing_limit_is_max_duration_plus_grace_on_the_lines_clock() -> None:
    assert answered_limit_seconds(600, grace_seconds=5) == 605
    assert answered_limit_seconds(600, grace_seconds=5, time_scale=0.02) == 17
    assert answered_limit_seconds(600, grace_seconds=-1) == 600


def test_connected_time_within_the_limit_is_billed_in_full() -> None:
    ended = CREATED + timedelta(seconds=7.5)
    assert billable_seconds(CREATED, ended, limit_seconds=605) == 7.5


def test_connected_time_beyond_the_limit_is_cut_to_it() -> None:
    ended = CREATED + timedelta(seconds=92_000_000)
    assert billable_seconds(CREATED, ended, limit_seconds=605) == 605


def test_an_end_before_the_answer_or_an_unknown_one_bills_nothing() -> None:
    assert billable_seconds(NOW, CREATED, limit_seconds=605) == 0
    assert billable_seconds(None, NOW, limit_seconds=605) == 0
    assert billable_seconds(CREATED, None, limit_seconds=605) == 0


def test_a_dead_workers_call_was_last_alive_at_its_last_lease_renewal() -> None:
    started = CREATED + timedelta(seconds=2)
    expires = started + timedelta(seconds=5.5 + 30)
    alive = last_alive(
        lease_expires_at=expires, lease_seconds=30, started_at=started, created_at=CREATED
    )
    assert alive == started + timedelta(seconds=5.5)


def test_a_lease_renewed_before_the_answer_bills_nothing_after_it() -> None:
    started = CREATED + timedelta(seconds=20)
    expires = CREATED + timedelta(seconds=30)  # claimed at creation, never renewed since
    alive = last_alive(
        lease_expires_at=expires, lease_seconds=30, started_at=started, created_at=CREATED
    )
    assert alive == started
    assert (
        last_alive(lease_expires_at=None, lease_seconds=30, started_at=None, created_at=CREATED)
        == CREATED
    )


_OFFSETS = st.floats(min_value=-1e10, max_value=1e10, allow_nan=False)


@given(answered=_OFFSETS, ended=_OFFSETS, max_duration=st.floats(min_value=10, max_value=14_400))
def test_whatever_a_provider_reports_the_bill_stays_within_the_calls_life_and_limit(
    answered: float, ended: float, max_duration: float
) -> None:
    started_at = bounded_time(
        CREATED + timedelta(seconds=answered), not_before=CREATED, not_after=NOW
    )
    ended_at = bounded_time(CREATED + timedelta(seconds=ended), not_before=CREATED, not_after=NOW)
    limit = answered_limit_seconds(max_duration, grace_seconds=5)
    billed = billable_seconds(started_at, ended_at, limit_seconds=limit)
    assert 0 <= billed <= min(limit, (NOW - CREATED).total_seconds())
