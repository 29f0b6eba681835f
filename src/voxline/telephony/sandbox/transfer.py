"""A sandbox call handed on by the agent: the contact talks with the person at the destination.

Voxline's side of the call has left by then (its line is closed), so nobody at Voxline hears
this part: it is a timed script in text whatever the sandbox's mode, kept on the
:class:`Transfer` record for tests and demos to inspect.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voxline.telephony.sandbox.personas import TRANSFER_SCRIPT, speaking_seconds

THINKING_SECONDS = 0.5


@dataclass
class Transfer:
    """Where a call was handed on, and what was said there once the contact was bridged.

    ``lines`` are ``(speaker, text)`` pairs, the speaker ``"destination"`` or ``"contact"``.
    ``ended_by`` is None while the contact is still connected to the destination, then
    ``"contact"`` after the goodbyes or ``"agent"`` if the platform hung the call up.
    """

    destination: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    ended_by: str | None = None

    @property
    def connected(self) -> bool:
        """Whether the contact is still talking with the destination."""
        return self.ended_by is None


Wait = Callable[[float], Awaitable[bool]]


async def play_bridge(transfer: Transfer, wait: Wait) -> None:
    """Act out the bridged conversation. ``wait(seconds)`` lets simulated time pass and
    returns True when the platform hung the call up meanwhile."""
    for speaker, text in TRANSFER_SCRIPT:
        if await wait(THINKING_SECONDS) or await wait(speaking_seconds(text)):
            transfer.ended_by = "agent"
            return
        transfer.lines.append((speaker, text))
    transfer.ended_by = "contact"
