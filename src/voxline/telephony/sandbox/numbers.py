"""The numbers the sandbox carrier sells.

The sandbox owns the fictional range ``+1 NPA 555 1NNN``: any North American area code
(``NPA``, default 415) followed by exchange 555 and a line number from 1000 to 1999. The 555
exchange is reserved for fiction, so no real person is ever reached. The carrier keeps no
inventory of its own: a number is free exactly when no organization holds it, so releasing a
number returns it to the range.

(The callee-behaviour numbers of DESIGN §4.1, ``+1 NPA 555 01NN``, are destinations, not
numbers for sale, and lie outside this range.)
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

DEFAULT_AREA_CODE = "415"
AREA_CODE_PATTERN = r"^[2-9]\d{2}$"
FIRST_LINE = 1000
LAST_LINE = 1999
RANGE_SIZE = LAST_LINE - FIRST_LINE + 1

_AREA_CODE = re.compile(AREA_CODE_PATTERN)
_IN_RANGE = re.compile(r"\+1([2-9]\d{2})5551\d{3}")


def is_area_code(value: str) -> bool:
    """True for a three-digit North American area code (first digit 2 to 9)."""
    return bool(_AREA_CODE.fullmatch(value))


def in_range(phone_number: str) -> bool:
    """True when the sandbox sells ``phone_number`` (E.164)."""
    return bool(_IN_RANGE.fullmatch(phone_number))


def range_prefix(area_code: str) -> str:
    """The E.164 prefix shared by every number of the range in ``area_code``."""
    return f"+1{area_code}5551"


def area_code_of(phone_number: str) -> str:
    """The area code of a number of the range."""
    match = _IN_RANGE.fullmatch(phone_number)
    if match is None:
        raise ValueError("not a sandbox number")
    return match.group(1)


def available(area_code: str, taken: Collection[str]) -> Sequence[str]:
    """The numbers of the range in ``area_code`` not in ``taken``, in ascending order."""
    if not is_area_code(area_code):
        raise ValueError("area code must be three digits, the first 2-9")
    prefix = f"+1{area_code}555"
    numbers = (f"{prefix}{line}" for line in range(FIRST_LINE, LAST_LINE + 1))
    return [number for number in numbers if number not in taken]
