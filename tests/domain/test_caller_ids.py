import random
from datetime import UTC, datetime, timedelta

import pytest

from voxline.domain.caller_ids import Pacer, Rotation, choose
from voxline.errors import ValidationFailed

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
POOL = ["a", "b", "c"]


def test_round_robin_cycles_through_the_pool() -> None:
    pacer = Pacer()
    picks = [choose(POOL, Rotation.ROUND_ROBIN, dialed=i, pacer=pacer, now=NOW) for i in range(5)]
    assert picks == ["a", "b", "c", "a", "b"]


def test_sequential_fills_the_soonest_free_number_first() -> None:
    pacer = Pacer(calls_per_second=1)
    assert choose(POOL, Rotation.SEQUENTIAL, dialed=0, pacer=pacer, now=NOW) == "a"
    pacer.take("a", NOW)
    assert choose(POOL, Rotation.SEQUENTIAL, dialed=1, pacer=pacer, now=NOW) == "b"
    later = NOW + timedelta(seconds=2)
    assert choose(POOL, Rotation.SEQUENTIAL, dialed=2, pacer=pacer, now=later) == "a"


def test_random_uses_only_the_pool() -> None:
    rng = random.Random(7)
    picks = {
        choose(POOL, Rotation.RANDOM, dialed=i, pacer=Pacer(), now=NOW, rng=rng) for i in range(50)
    }
    assert picks == set(POOL)


def test_an_empty_pool_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        choose([], Rotation.ROUND_ROBIN, dialed=0, pacer=Pacer(), now=NOW)


def test_pacing_spaces_calls_on_one_number_and_not_across_numbers() -> None:
    pacer = Pacer(calls_per_second=2)
    assert [pacer.take("a", NOW) for _ in range(3)] == [
        NOW,
        NOW + timedelta(seconds=0.5),
        NOW + timedelta(seconds=1),
    ]
    assert pacer.take("b", NOW) == NOW
    # A slot in the past is not kept: an idle number starts at once.
    assert pacer.take("a", NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=5)


def test_pacing_survives_a_round_trip_through_storage() -> None:
    pacer = Pacer(calls_per_second=1)
    pacer.take("a", NOW)
    again = Pacer.from_json(1, pacer.to_json())
    assert again.take("a", NOW) == NOW + timedelta(seconds=1)


@pytest.mark.parametrize("rate", [0, -1, 51, 5e-324, 0.009])
def test_pacing_rates_are_bounded(rate: float) -> None:
    with pytest.raises(ValidationFailed):
        Pacer(calls_per_second=rate)
