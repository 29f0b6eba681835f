"""Money in USD.

Amounts are ``Decimal`` in the domain and whole micro-dollars (10⁻⁶ USD) in storage, which
keeps them exact on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

MICROS_PER_USD = 1_000_000
_MICRO = Decimal("0.000001")


def to_micros(amount: Decimal) -> int:
    """Whole micro-dollars in ``amount`` (banker's rounding below one micro-dollar)."""
    return int(amount.quantize(_MICRO, rounding=ROUND_HALF_EVEN) * MICROS_PER_USD)


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) / MICROS_PER_USD).quantize(_MICRO)


def as_api_number(amount: Decimal) -> float:
    """A dollar amount as the API shows it (a JSON number, rounded to micro-dollars)."""
    return float(amount.quantize(_MICRO))


def within_floor(balance_micros: int, charge_micros: int, floor_micros: int) -> tuple[int, int]:
    """``(collected, uncollected)`` micro-dollars of a charge against a balance that may not
    fall below ``floor_micros``: the charge is collected up to the floor and the rest is
    uncollected. A balance already at or below the floor pays nothing more; a charge is
    never negative."""
    charge = max(0, charge_micros)
    collected = min(charge, max(0, balance_micros - floor_micros))
    return collected, charge - collected
