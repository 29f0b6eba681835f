from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from voxline.domain.calling_window import ALL_DAYS, CallingWindow, parse_time, zone
from voxline.errors import ValidationFailed

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")
NINE_TO_FIVE = CallingWindow(time(9), time(17))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_window_is_read_on_the_contacts_own_clock() -> None:
    instant = utc(2026, 3, 2, 14, 0)  # a Monday: 09:00 in New York, 15:00 Paris, 23:00 Tokyo
    assert NINE_TO_FIVE.allows(instant, NY)
    assert NINE_TO_FIVE.allows(instant, PARIS)
    assert not NINE_TO_FIVE.allows(instant, TOKYO)
    assert not NINE_TO_FIVE.allows(utc(2026, 3, 2, 13, 59), NY)


def test_the_end_is_excluded_and_the_next_opening_is_the_next_working_morning() -> None:
    friday_close = utc(2026, 3, 6, 22, 0)  # 17:00 in New York on a Friday
    assert not NINE_TO_FIVE.allows(friday_close, NY)
    assert NINE_TO_FIVE.next_allowed(friday_close, NY) == utc(2026, 3, 9, 13, 0)  # Monday 09:00 EDT


def test_next_allowed_is_now_when_open() -> None:
    instant = utc(2026, 3, 2, 15, 0)
    assert NINE_TO_FIVE.next_allowed(instant, NY) == instant


def test_spring_forward_start_in_the_gap_opens_when_the_gap_ends() -> None:
    window = CallingWindow(time(2, 30), time(4), ALL_DAYS)
    # 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT (07:00 UTC).
    before = utc(2026, 3, 8, 6, 59)  # 01:59 EST
    assert not window.allows(before, NY)
    assert window.next_allowed(before, NY) == utc(2026, 3, 8, 7, 0)
    assert window.allows(utc(2026, 3, 8, 7, 0), NY)  # 03:00 EDT
    assert not window.allows(utc(2026, 3, 8, 8, 0), NY)  # 04:00 EDT


def test_spring_forward_end_in_the_gap_closes_at_the_gap() -> None:
    window = CallingWindow(time(1), time(2, 30), ALL_DAYS)
    assert window.allows(utc(2026, 3, 8, 6, 59), NY)  # 01:59 EST
    assert not window.allows(utc(2026, 3, 8, 7, 0), NY)  # 03:00 EDT


def test_fall_back_start_that_happens_twice_opens_at_its_first_occurrence() -> None:
    window = CallingWindow(time(1, 30), time(3), ALL_DAYS)
    # 2026-11-01: 01:30 EDT is 05:30 UTC, 01:30 EST is 06:30 UTC.
    assert window.next_allowed(utc(2026, 11, 1, 4, 0), NY) == utc(2026, 11, 1, 5, 30)
    # Clocks go back from 02:00 EDT to 01:00 EST at 06:00 UTC: the wall clock reads 01:15
    # (before the start) again, then 01:45 (inside) again.
    assert not window.allows(utc(2026, 11, 1, 6, 15), NY)
    assert window.allows(utc(2026, 11, 1, 6, 45), NY)
    # The window lasts 2.5 wall-clock hours but 3.5 real hours that day.
    assert window.allows(utc(2026, 11, 1, 7, 59), NY)  # 02:59 EST
    assert not window.allows(utc(2026, 11, 1, 8, 0), NY)


def test_a_window_in_a_zone_without_dst_is_the_same_every_day() -> None:
    assert NINE_TO_FIVE.next_allowed(utc(2026, 3, 7, 0, 0), TOKYO) == utc(2026, 3, 9, 0, 0)


def test_working_days_skip_weekends() -> None:
    saturday_noon = utc(2026, 3, 7, 17, 0)
    assert not NINE_TO_FIVE.allows(saturday_noon, NY)
    weekend = CallingWindow(time(9), time(17), frozenset({6, 7}))
    assert weekend.allows(saturday_noon, NY)


def test_no_hours_means_the_whole_working_day() -> None:
    window = CallingWindow(working_days=frozenset({1}))
    assert window.allows(utc(2026, 3, 2, 6, 0), NY)  # Monday 01:00 in New York
    assert not window.allows(utc(2026, 3, 2, 6, 0), ZoneInfo("America/Los_Angeles"))  # Sunday
    assert window.next_allowed(utc(2026, 3, 1, 12, 0), PARIS) == utc(2026, 3, 1, 23, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"start": time(17), "end": time(9)}, "end_time"),
        ({"start": time(9), "end": time(9)}, "end_time"),
        ({"start": time(9)}, "end_time"),
        ({"working_days": frozenset()}, "working_days"),
        ({"working_days": frozenset({0, 1})}, "working_days"),
        ({"working_days": frozenset({8})}, "working_days"),
    ],
)
def test_invalid_windows_are_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        CallingWindow(**kwargs)  # type: ignore[arg-type]
    assert caught.value.details["field"] == field


@pytest.mark.parametrize("text", ["9:00", "24:00", "12:60", "noon", "", "12:00:00"])
def test_times_must_be_hh_mm(text: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_time(text, "start_time")
    assert parse_time("09:05", "start_time") == time(9, 5)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", ""])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(ValidationFailed):
        zone(name)
    assert zone("Europe/Paris") == PARIS
