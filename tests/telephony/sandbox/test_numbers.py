"""The sandbox carrier's range of numbers for sale."""

from __future__ import annotations

import pytest

from voxline.telephony.sandbox import numbers


@pytest.mark.parametrize("phone", ["+14155551000", "+14155551999", "+12125551234"])
def test_numbers_of_the_range_are_for_sale(phone: str) -> None:
    assert numbers.in_range(phone)


@pytest.mark.parametrize(
    "phone",
    [
        "+14155550999",  # below the range
        "+14155552000",  # above it
        "+14155550101",  # a callee-behaviour destination, not for sale
        "+14154441000",  # wrong exchange
        "+11155551000",  # area codes never start with 1
        "+441415551000",  # not North American
        "14155551000",  # not E.164
    ],
)
def test_numbers_outside_the_range_are_not_for_sale(phone: str) -> None:
    assert not numbers.in_range(phone)


def test_available_lists_the_whole_range_in_order() -> None:
    free = numbers.available("212", taken=set())
    assert len(free) == numbers.RANGE_SIZE == 1000
    assert free[0] == "+12125551000"
    assert free[-1] == "+12125551999"
    assert all(numbers.in_range(n) and n.startswith(numbers.range_prefix("212")) for n in free)


def test_available_leaves_out_taken_numbers() -> None:
    free = numbers.available("415", taken={"+14155551000", "+14155551002", "+12125551001"})
    assert free[:2] == ["+14155551001", "+14155551003"]
    assert len(free) == 998


@pytest.mark.parametrize("area", ["115", "41", "4155", "abc", ""])
def test_available_rejects_malformed_area_codes(area: str) -> None:
    assert not numbers.is_area_code(area)
    with pytest.raises(ValueError):
        numbers.available(area, taken=set())


def test_area_code_of_a_range_number() -> None:
    assert numbers.area_code_of("+13125551500") == "312"
    with pytest.raises(ValueError):
        numbers.area_code_of("+13125550100")
