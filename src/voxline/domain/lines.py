"""What kind of line a call runs on, decided in one place.

The sandbox is a simulated phone network inside Voxline (DESIGN §4.1). Its calls differ from
calls on a real carrier in three ways the engine must know, and it asks these functions
instead of comparing provider names:

- they live in simulated time: their join and duration deadlines (and the time they may be
  billed for) shrink with the configured sandbox time scale;
- their conversation lives in the worker that placed them, so that worker keeps their lease
  for the whole call; a carrier call's lease passes, once it is answered, to whichever
  process its media stream reaches;
- a simulated call whose worker stopped cannot go on, while a carrier call waiting to be
  answered is ended by its own deadlines.

A web call (a person talking to an agent from the dashboard, its audio over the dashboard's
WebSocket) has no carrier at all: its provider type is :data:`WEB`. It is not simulated (a
person speaks in real time), and its lease follows its media like a carrier call's: the
process holding the browser's socket hosts it.
"""

from __future__ import annotations

SANDBOX = "sandbox"
"""The provider type of the simulated network, and of a call that names none when claimed."""

WEB = "web"
"""The provider type of a web call: no carrier, the browser's WebSocket carries the audio."""

SIMULATED_PROVIDERS = frozenset({SANDBOX})


def is_simulated(provider_type: str | None) -> bool:
    """Whether calls of ``provider_type`` run on a simulated line (None is not one)."""
    return provider_type in SIMULATED_PROVIDERS


def time_scale(provider_type: str | None, simulated_time_scale: float) -> float:
    """How fast the clock of the line runs: ``simulated_time_scale`` on a simulated line,
    1.0 on a carrier's."""
    return simulated_time_scale if is_simulated(provider_type) else 1.0


def lease_follows_media(provider_type: str | None) -> bool:
    """Whether the lease of an answered call belongs to the process hosting its media stream
    (a carrier call) rather than to the worker that placed it (a simulated call)."""
    return not is_simulated(provider_type)
