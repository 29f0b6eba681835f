"""Agent statuses, and the rules on the values of an agent's fields.

Each rule checks one field as a client writes it and returns the value as it is kept (field
names as on the agent record: durations become ``*_seconds`` floats). A broken rule raises
:class:`ValidationFailed` naming the field as the client spelled it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from voxline.domain.durations import (
    JOIN_TIMEOUT_BOUNDS,
    MAX_DURATION_BOUNDS,
    Bounds,
    DurationError,
    parse_duration,
)
from voxline.errors import ValidationFailed


class AgentStatus(StrEnum):
    ACTIVE = "active"
    DRAFT = "draft"
    CREATING = "creating"
    FAILED = "failed"


# Clients choose between these; the others are set by the platform.
WRITABLE_STATUSES = frozenset({AgentStatus.ACTIVE, AgentStatus.DRAFT})

NAME_MAX = 255
DESCRIPTION_MAX = 1000
SYSTEM_PROMPT_MAX = 100_000
GREETING_MAX = 5_000
MODEL_MAX = 200
VOICE_ID_MAX = 100
LANGUAGE_HINT_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
LANGUAGE_HINT_MAX = 35

DEFAULT_TEMPERATURE = 0.3
DEFAULT_LANGUAGE_HINT = "en-US"
DEFAULT_JOIN_TIMEOUT = "30s"
DEFAULT_MAX_DURATION = "3600s"

Rule = Callable[[str, Any], dict[str, Any]]


def _text(maximum: int, *, nullable: bool = False) -> Rule:
    def check(name: str, value: str | None) -> dict[str, Any]:
        if value is None and nullable:
            return {name: None}
        if value is None or (not nullable and not value.strip()):
            raise ValidationFailed.field(name, "must not be empty")
        if len(value) > maximum:
            raise ValidationFailed.field(name, f"must be at most {maximum} characters")
        return {name: value}

    return check


def _duration(bounds: Bounds) -> Rule:
    def check(name: str, value: str) -> dict[str, Any]:
        try:
            return {f"{name}_seconds": parse_duration(value, bounds)}
        except DurationError as exc:
            raise ValidationFailed.field(name, str(exc)) from None

    return check


def _temperature(name: str, value: float) -> dict[str, Any]:
    if not 0 <= value <= 1:
        raise ValidationFailed.field(name, "must be between 0 and 1")
    return {name: float(value)}


def _language_hint(name: str, value: str) -> dict[str, Any]:
    if len(value) > LANGUAGE_HINT_MAX or not re.fullmatch(LANGUAGE_HINT_PATTERN, value):
        raise ValidationFailed.field(name, 'must be a BCP-47 language tag such as "en-US"')
    return {name: value}


def _status(name: str, value: str) -> dict[str, Any]:
    if value not in WRITABLE_STATUSES:
        raise ValidationFailed.field(name, "must be active or draft")
    return {name: AgentStatus(value).value}


_RULES: dict[str, Rule] = {
    "name": _text(NAME_MAX),
    "system_prompt": _text(SYSTEM_PROMPT_MAX),
    "model": _text(MODEL_MAX),
    "description": _text(DESCRIPTION_MAX, nullable=True),
    "greeting": _text(GREETING_MAX, nullable=True),
    "voice_id": _text(VOICE_ID_MAX, nullable=True),
    "temperature": _temperature,
    "language_hint": _language_hint,
    "recording_enabled": lambda name, value: {name: bool(value)},
    "dnc_on_request": lambda name, value: {name: bool(value)},
    "join_timeout": _duration(JOIN_TIMEOUT_BOUNDS),
    "max_duration": _duration(MAX_DURATION_BOUNDS),
    "status": _status,
}


def checked_values(fields: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """The kept values of the given (field, value) pairs; the first broken rule raises.

    Whether a ``voice_id`` names a voice that exists is for the caller to check.
    """
    values: dict[str, Any] = {}
    for name, value in fields:
        values.update(_RULES[name](name, value))
    return values
