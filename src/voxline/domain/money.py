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
