"""A call's charge against a balance that may not fall below the credit floor."""

from __future__ import annotations

from voxline.domain.money import within_floor

FLOOR = -100_000_000  # -100 USD in micro-dollars


def test_a_charge_above_the_floor_is_collected_in_full_even_into_the_negative() -> None:
    assert within_floor(1_000_000, 3_840_000, FLOOR) == (3_840_000, 0)


def test_a_charge_past_the_floor_is_collected_down_to_it_and_the_rest_uncollected() -> None:
    assert within_floor(-99_000_000, 3_000_000, FLOOR) == (1_000_000, 2_000_000)


def test_a_balance_already_below_the_floor_pays_nothing_more() -> None:
    assert within_floor(-150_000_000, 2_000_000, FLOOR) == (0, 2_000_000)


def test_a_zero_floor_never_lets_a_balance_go_negative() -> None:
    assert within_floor(500_000, 2_000_000, 0) == (500_000, 1_500_000)
    assert within_floor(500_000, 400_000, 0) == (400_000, 0)


def test_a_negative_charge_collects_nothing() -> None:
    assert within_floor(1_000_000, -5, FLOOR) == (0, 0)
