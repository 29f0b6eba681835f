"""E.164 phone numbers."""

from __future__ import annotations

import re

E164_PATTERN = r"^\+[1-9]\d{1,14}$"
_E164 = re.compile(E164_PATTERN)


def is_e164(value: str) -> bool:
    """True when ``value`` is a phone number in E.164 form (``+`` and 2 to 15 digits)."""
    return bool(_E164.fullmatch(value))


def mask(value: str) -> str:
    """A phone number with all but its last two digits hidden, for operator-facing output."""
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * (len(value) - 4) + value[-2:]
