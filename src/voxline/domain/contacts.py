"""Contacts: the rules for a contact's fields, and a CSV row as a contact.

A contact's ``phone_number`` is E.164; ``normalize_phone`` accepts what people type into a
spreadsheet (spaces, dashes, dots, parentheses, a leading ``00``) and nothing that would dial
another number. ``timezone`` is an IANA name (``Europe/Paris``) known to :mod:`zoneinfo`.
``custom_fields`` is a flat object of the columns Voxline has no field for.
"""

from __future__ import annotations

import functools
import re
import uuid
import zoneinfo
from collections.abc import Mapping
from typing import Any, Final

from voxline.domain.phone import is_e164
from voxline.domain.text import storable_reason
from voxline.errors import ValidationFailed

# Field name -> longest value. ``phone_number``, ``timezone`` and ``custom_fields`` have
# rules of their own.
TEXT_FIELDS: Final[dict[str, int]] = {
    "first_name": 100,
    "last_name": 100,
    "email": 320,
    "company_name": 255,
    "industry": 100,
    "location": 255,
    "pin_code": 20,
    "keywords": 1000,
}
FIELDS: Final = ("phone_number", *TEXT_FIELDS, "timezone", "custom_fields")
TIMEZONE_MAX = 64
CUSTOM_FIELDS_MAX = 50
CUSTOM_KEY_MAX = 100
CUSTOM_VALUE_MAX = 1000
FOLDER_NAME_MAX = 255
FOLDER_DESCRIPTION_MAX = 1000
DEFAULT_FOLDER_NAME = "Default"

_DEFAULT_FOLDER_NAMESPACE = uuid.UUID("5b0c6a52-6f1e-4d55-9a4e-0b7f1c3d2e90")
_PHONE_NOISE = re.compile(r"[\s\-.()/]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", re.ASCII)

# CSV header -> contact field. Every other column goes to custom_fields.
_COLUMN_ALIASES: Final[dict[str, str]] = {
    "phone": "phone_number",
    "phone_number": "phone_number",
    "number": "phone_number",
    "company": "company_name",
    "firstname": "first_name",
    "lastname": "last_name",
    "zip": "pin_code",
    "postal_code": "pin_code",
    "time_zone": "timezone",
    **{name: name for name in TEXT_FIELDS},
    "timezone": "timezone",
    "name": "name",
}


def default_folder_id(org_id: str) -> str:
    """The id of an organization's default folder: the same every time it is made."""
    return str(uuid.uuid5(_DEFAULT_FOLDER_NAMESPACE, org_id))


def normalize_phone(value: object) -> str | None:
    """``value`` as an E.164 number, or ``None`` when it is not one.

    Spaces, dashes, dots, slashes and parentheses are dropped and a leading ``00`` becomes
    ``+``; the result must then be E.164 (a number without its ``+`` is refused: its country
    would be a guess).
    """
    if not isinstance(value, str):
        return None
    compact = _PHONE_NOISE.sub("", value.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if is_e164(compact) else None


def check_phone(value: object, field: str = "phone_number") -> str:
    phone = normalize_phone(value)
    if phone is None:
        raise ValidationFailed.field(field, "must be a phone number in E.164 format")
    return phone


def check_timezone(value: object, field: str = "timezone") -> str:
    if not isinstance(value, str) or not value or len(value) > TIMEZONE_MAX:
        raise ValidationFailed.field(field, "must be an IANA time zone such as Europe/Paris")
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.field(field, "unknown time zone") from None
    return value


def _storable(field: str, text: str) -> None:
    reason = storable_reason(text)
    if reason is not None:
        raise ValidationFailed.field(field, reason)


def check_custom_fields(value: object, field: str = "custom_fields") -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationFailed.field(field, "must be an object")
    if len(value) > CUSTOM_FIELDS_MAX:
        raise ValidationFailed.field(field, f"has more than {CUSTOM_FIELDS_MAX} keys")
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > CUSTOM_KEY_MAX:
            raise ValidationFailed.field(field, f"keys are 1-{CUSTOM_KEY_MAX} characters")
        _storable(field, key)
        if isinstance(item, str):
            _storable(f"{field}.{key}", item)
        if isinstance(item, str) and len(item) > CUSTOM_VALUE_MAX:
            raise ValidationFailed.field(
                f"{field}.{key}", f"is longer than {CUSTOM_VALUE_MAX} characters"
            )
        if not (item is None or isinstance(item, str | int | float | bool)):
            raise ValidationFailed.field(f"{field}.{key}", "must be a string, number or boolean")
    return dict(value)


def _check_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed.field(name, "must be a string")
    _storable(name, value)
    text = value.strip()
    if len(text) > TEXT_FIELDS[name]:
        raise ValidationFailed.field(name, f"is longer than {TEXT_FIELDS[name]} characters")
    if name == "email" and text and not _EMAIL.fullmatch(text):
        raise ValidationFailed.field(name, "is not an email address")
    return text or None


def check_contact(values: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of the contact fields in ``values`` (only those present), or
    :class:`ValidationFailed` naming the first field at fault. ``None`` clears a field,
    except ``phone_number`` and ``custom_fields`` (an empty object clears those)."""
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name == "phone_number":
            checked[name] = check_phone(value)
        elif name == "timezone":
            checked[name] = None if value in (None, "") else check_timezone(value)
        elif name == "custom_fields":
            checked[name] = {} if value is None else check_custom_fields(value)
        elif name in TEXT_FIELDS:
            checked[name] = _check_text(name, value)
        else:
            raise ValidationFailed.field(name, "is not a contact field")
    return checked


def split_name(name: str) -> tuple[str | None, str | None]:
    """A full name as (first name, last name): the first word, then the rest."""
    first, _, last = name.strip().partition(" ")
    return first or None, last.strip() or None


@functools.lru_cache(maxsize=256)
def column_field(header: str) -> str | None:
    """The contact field a CSV column fills (``name`` is split), or ``None`` for a custom
    column."""
    key = header.strip().lower().replace(" ", "_").replace("-", "_")
    return _COLUMN_ALIASES.get(key)


def contact_from_row(row: Mapping[str, str]) -> dict[str, Any]:
    """The contact fields of one CSV row (by its header), unchecked: empty cells are absent,
    ``name`` fills the first and last names a row does not give, and the other columns go
    to ``custom_fields``."""
    fields: dict[str, Any] = {}
    custom: dict[str, str] = {}
    full_name: str | None = None
    for header, raw in row.items():
        if header is None or raw is None:
            continue
        value = raw.strip()
        field = column_field(header)
        if field is None:
            if value:
                custom[header.strip()] = value
        elif field == "name":
            full_name = value or None
        elif value or field == "phone_number":
            fields[field] = value
    if full_name is not None:
        first, last = split_name(full_name)
        fields.setdefault("first_name", first)
        if last is not None:
            fields.setdefault("last_name", last)
    if custom:
        fields["custom_fields"] = custom
    return fields
