"""Numbers for sale: what a carrier offers to an organization looking for a new number.

Only the sandbox carrier can be searched for now. It sells local US numbers of its fictional
range (:mod:`voxline.telephony.sandbox.numbers`) that no organization holds, free of charge.
The other providers answer 422 until their adapters can search their carrier's stock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa

from voxline.errors import ValidationFailed
from voxline.storage.db import Database
from voxline.storage.tables import phone_numbers
from voxline.telephony.credentials import ProviderType, parse_provider
from voxline.telephony.sandbox import numbers as sandbox_numbers

SEARCH_COUNTRIES = frozenset({"US"})
MAX_PAGE_SIZE = 100


class NumberType(StrEnum):
    LOCAL = "local"
    TOLL_FREE = "toll_free"
    MOBILE = "mobile"
    NATIONAL = "national"


@dataclass(frozen=True, slots=True)
class Region:
    region_type: str
    region_name: str


@dataclass(frozen=True, slots=True)
class AvailableNumber:
    phone_number: str
    provider_type: ProviderType
    phone_number_type: NumberType
    region_information: tuple[Region, ...]
    monthly_cost: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    items: list[AvailableNumber]
    page: int
    page_size: int
    total_results: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total_results / self.page_size)

    @property
    def has_more(self) -> bool:
        return self.page < self.total_pages


async def search_numbers(
    db: Database,
    *,
    country_code: str = "US",
    area_code: str | None = None,
    locality: str | None = None,
    phone_number_type: NumberType | str = NumberType.LOCAL,
    provider_type: ProviderType | str = ProviderType.SANDBOX,
    page: int = 1,
    page_size: int = 20,
) -> SearchResult:
    """Numbers for sale, one page at a time, in ascending order.

    Raises :class:`ValidationFailed` for a provider that cannot be searched, a country other
    than the US, or a malformed filter. Sandbox numbers are all local and have no locality, so
    another ``phone_number_type`` finds nothing and ``locality`` does not narrow the result.
    """
    provider = parse_provider(provider_type)
    if provider is not ProviderType.SANDBOX:
        raise ValidationFailed.field("provider_type", "provider not supported for search")
    if country_code.upper() not in SEARCH_COUNTRIES:
        raise ValidationFailed.field("country_code", "only US numbers are available")
    try:
        # The buying guide spells it "toll-free", the API reference "toll_free".
        number_type = NumberType(str(phone_number_type).replace("-", "_"))
    except ValueError:
        allowed = ", ".join(t.value for t in NumberType)
        raise ValidationFailed.field("phone_number_type", f"must be one of {allowed}") from None
    area = area_code or sandbox_numbers.DEFAULT_AREA_CODE
    if not sandbox_numbers.is_area_code(area):
        raise ValidationFailed.field("area_code", "must be three digits, the first 2-9")
    if page < 1:
        raise ValidationFailed.field("page", "must be at least 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationFailed.field("page_size", f"must be 1 to {MAX_PAGE_SIZE}")
    if number_type is not NumberType.LOCAL:
        return SearchResult([], page, page_size, 0)
    prefix = sandbox_numbers.range_prefix(area)
    async with db.read() as conn:
        taken = set(
            (
                await conn.execute(
                    sa.select(phone_numbers.c.phone_number).where(
                        phone_numbers.c.phone_number.like(f"{prefix}%")
                    )
                )
            ).scalars()
        )
    free = sandbox_numbers.available(area, taken)
    regions = (Region("country_code", "US"), Region("area_code", area))
    start = (page - 1) * page_size
    items = [
        AvailableNumber(number, provider, NumberType.LOCAL, regions, Decimal(0), "USD")
        for number in free[start : start + page_size]
    ]
    return SearchResult(items, page, page_size, len(free))
