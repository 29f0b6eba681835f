"""What a call costs: a per-second platform rate plus a per-provider telephony rate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

_CENT_FRACTION = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class PriceTable:
    """USD per minute, billed by the second."""

    platform_per_minute: Decimal
    telephony_per_minute: Mapping[str, Decimal]

    def per_minute(self, provider: str | None) -> Decimal:
        return self.platform_per_minute + self.telephony_per_minute.get(provider or "", Decimal(0))

    def cost(self, billed_seconds: int, provider: str | None) -> Decimal:
        """Price of ``billed_seconds`` of connected time over ``provider``."""
        if billed_seconds <= 0:
            return Decimal(0).quantize(_CENT_FRACTION)
        amount = self.per_minute(provider) * Decimal(billed_seconds) / Decimal(60)
        return amount.quantize(_CENT_FRACTION, rounding=ROUND_HALF_EVEN)


def billed_seconds(connected_seconds: float) -> int:
    """Connected time rounded up to whole seconds (a started second is billed)."""
    if connected_seconds <= 0:
        return 0
    whole = int(connected_seconds)
    return whole if whole == connected_seconds else whole + 1
