"""E.164 phone numbers."""

from __future__ import annotations

import re

# ASCII digits only: ``\d`` (in Python and in pydantic's regex engine) also matches the
# digits of other scripts, such as "१९९८", which no carrier dials.
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
_E164 = re.compile(E164_PATTERN, re.ASCII)


def is_e164(value: str) -> bool:
    """True when ``value`` is a phone number in E.164 form (``+`` and 2 to 15 ASCII digits)."""
    return isinstance(value, str) and value.isascii() and bool(_E164.fullmatch(value))


def mask(value: str) -> str:
    """A phone number with all but its last two digits hidden, for operator-facing output."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]
