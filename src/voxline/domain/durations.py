"""Durations as the API writes them: ``"30s"``, ``"1.5s"``, ``"500ms"``, ``"10m"``, ``"1h"``."""

from __future__ import annotations

import re
from dataclasses import dataclass

# ASCII digits only: ``\d`` and ``float()`` would also take "\u0665s" (an Arabic-Indic five).
DURATION_PATTERN = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h)$"
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)$", re.ASCII)
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class DurationError(ValueError):
    """A duration string that is malformed or out of its bounds."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive limits, in seconds, for one kind of duration."""

    minimum: float
    maximum: float


JOIN_TIMEOUT_BOUNDS = Bounds(minimum=1, maximum=300)
MAX_DURATION_BOUNDS = Bounds(minimum=10, maximum=4 * 3600)


def parse_duration(text: str, bounds: Bounds | None = None) -> float:
    """Seconds in ``text``; raises :class:`DurationError` when malformed or out of bounds."""
    match = _DURATION.fullmatch(text.strip()) if isinstance(text, str) and text.isascii() else None
    if match is None:
        raise DurationError('must be a duration such as "30s", "500ms", "10m" or "1h"')
    seconds = float(match.group(1)) * _FACTORS[match.group(2)]
    if bounds is not None and not bounds.minimum <= seconds <= bounds.maximum:
        raise DurationError(
            f"must be between {format_duration(bounds.minimum)} "
            f"and {format_duration(bounds.maximum)}"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """The canonical API form of a duration: whole seconds as ``"30s"``, else ``"1.5s"``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:g}s"
