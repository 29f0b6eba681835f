"""Phone numbers, durations, templates and money."""

from __future__ import annotations

from decimal import Decimal

import pytest

from voxline.domain.durations import (
    JOIN_TIMEOUT_BOUNDS,
    DurationError,
    format_duration,
    parse_duration,
)
from voxline.domain.money import from_micros, to_micros
from voxline.domain.phone import is_e164, mask
from voxline.domain.templates import placeholders, render


@pytest.mark.parametrize("number", ["+14155550123", "+442071838750", "+12"])
def test_valid_e164(number: str) -> None:
    assert is_e164(number)


@pytest.mark.parametrize(
    "number",
    [
        "14155550123",
        "+04155550123",
        "+1415555012345678",
        "+1 415 555",
        "",
        "+",
        # Digits of other scripts: Devanagari, Arabic-Indic, full-width.
        "+1415555\u0967\u096f\u096f\u096e",
        "+\u0661\u0664\u0661\u0665",
        "+1415555\uff10\uff11\uff12\uff13",
        "+14155550123\n",
    ],
)
def test_invalid_e164(number: str) -> None:
    assert not is_e164(number)


def test_mask_hides_all_but_the_last_digits() -> None:
    assert mask("+14155550123") == "+1********23"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1.5s", 1.5), ("500ms", 0.5), ("10m", 600), ("1h", 3600)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "30",
        "s",
        "-5s",
        "1d",
        "thirty seconds",
        "1e3s",
        "\u0665s",  # an Arabic-Indic five
        "3\u0660s",
        "1.\u0665s",
        "\uff15m",  # a full-width five
    ],
)
def test_malformed_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_duration_bounds() -> None:
    with pytest.raises(DurationError, match="between"):
        parse_duration("0s", JOIN_TIMEOUT_BOUNDS)
    assert parse_duration("300s", JOIN_TIMEOUT_BOUNDS) == 300


def test_format_duration() -> None:
    assert format_duration(30.0) == "30s"
    assert format_duration(1.5) == "1.5s"


def test_render_substitutes_known_variables_and_keeps_unknown_ones() -> None:
    text = render(
        "Hi {{ first_name }}, about {{appointment_time}} at {{place}}",
        {"first_name": "Jane", "appointment_time": "2pm Thursday"},
    )
    assert text == "Hi Jane, about 2pm Thursday at {{place}}"
    assert placeholders("{{a}} {{ b }} {{a}}") == {"a", "b"}


def test_money_round_trips_through_micros() -> None:
    assert to_micros(Decimal("10")) == 10_000_000
    assert to_micros(Decimal("0.0000005")) == 0
    assert from_micros(to_micros(Decimal("1.234567"))) == Decimal("1.234567")
