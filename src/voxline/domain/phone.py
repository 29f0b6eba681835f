"""E.164 phone numbers, SIP addresses and keypad digits."""

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


# ``sip:`` or ``sips:``, a user part, ``@`` and a host: what a carrier can dial as a SIP URI.
_SIP_URI = re.compile(
    r"^sips?:[A-Za-z0-9._~%!$&'()*+,;=:-]+@[A-Za-z0-9.-]+(:[0-9]{1,5})?$", re.ASCII
)
# The keys of a phone keypad, plus ``w`` (half a second's pause) and ``W`` (a second's).
_KEYPAD = re.compile(r"^[0-9*#ABCDwW]{1,64}$", re.ASCII)


def is_sip_uri(value: str) -> bool:
    """True when ``value`` is a SIP address such as ``sip:desk@pbx.example.com``."""
    return isinstance(value, str) and len(value) <= 256 and bool(_SIP_URI.fullmatch(value))


def is_transfer_destination(value: str) -> bool:
    """True when a call can be handed to ``value``: an E.164 number or a SIP URI."""
    return is_e164(value) or is_sip_uri(value)


def is_keypad_digits(value: str) -> bool:
    """True when ``value`` is 1 to 64 keypad keys (``0-9``, ``*``, ``#``, ``A-D``) and
    pauses (``w`` half a second, ``W`` a second)."""
    return isinstance(value, str) and bool(_KEYPAD.fullmatch(value))
