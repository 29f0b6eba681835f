"""Choosing a batch call's caller ID and pacing each number.

Every attempt to one contact uses the same number (:func:`choose` is asked once, on the
first attempt; the choice is stored with the contact). Strategies over the pool, in its
order: ``round_robin`` gives the k-th contact dialed number k mod n; ``sequential`` gives
the number whose next pacing slot is the soonest, the first of the pool on a tie (so it fills
the first number before moving on); ``random`` picks uniformly.

Pacing: each number places at most ``calls_per_second`` calls per second. :class:`Pacer`
hands out the instant each new call may start on its number.
"""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from voxline.errors import ValidationFailed

DEFAULT_CALLS_PER_SECOND = 1.0
MAX_CALLS_PER_SECOND = 50.0
MIN_CALLS_PER_SECOND = 0.01  # one call per 100 s: slower is no pacing but a stall


class Rotation(StrEnum):
    RANDOM = "random"
    SEQUENTIAL = "sequential"
    ROUND_ROBIN = "round_robin"


@dataclass(slots=True)
class Pacer:
    """The next free instant of each number (ids); mutable while one round places calls,
    then stored with the batch (:meth:`to_json`)."""

    calls_per_second: float = DEFAULT_CALLS_PER_SECOND
    next_free: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not MIN_CALLS_PER_SECOND <= self.calls_per_second <= MAX_CALLS_PER_SECOND:
            raise ValidationFailed.field(
                "calls_per_second",
                f"must be {MIN_CALLS_PER_SECOND:g} to {MAX_CALLS_PER_SECOND:g}",
            )

    def free_at(self, number: str, now: datetime) -> datetime:
        slot = self.next_free.get(number)
        return now if slot is None or slot < now else slot

    def take(self, number: str, now: datetime) -> datetime:
        """The instant a call on ``number`` may start; the slot after it is reserved."""
        slot = self.free_at(number, now)
        self.next_free[number] = slot + timedelta(seconds=1 / self.calls_per_second)
        return slot

    def to_json(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in self.next_free.items()}

    @classmethod
    def from_json(cls, calls_per_second: float, data: Mapping[str, str] | None) -> Pacer:
        return cls(
            calls_per_second,
            {k: datetime.fromisoformat(v) for k, v in (data or {}).items()},
        )


def choose(
    pool: Sequence[str],
    strategy: Rotation,
    *,
    dialed: int,
    pacer: Pacer,
    now: datetime,
    rng: _random.Random | None = None,
) -> str:
    """The caller ID of a contact dialed for the first time, ``dialed`` contacts into the
    batch."""
    if not pool:
        raise ValidationFailed(
            "The batch has no outbound number", {"reason": "no_phone_number_configured"}
        )
    if strategy is Rotation.ROUND_ROBIN:
        return pool[dialed % len(pool)]
    if strategy is Rotation.SEQUENTIAL:
        return min(pool, key=lambda n: (pacer.free_at(n, now), pool.index(n)))
    return (rng or _random.Random()).choice(list(pool))
