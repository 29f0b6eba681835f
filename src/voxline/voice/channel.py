"""The agent's view of a live call in text mode: say something, press keys, listen for the
contact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class LineClosed(Exception):
    """The call's line was hung up."""


@dataclass(frozen=True, slots=True)
class Spoken:
    """What the agent actually got to say (all of it unless the contact cut in)."""

    text: str
    interrupted: bool


@dataclass(frozen=True, slots=True)
class Heard:
    """One contact turn and when it began (event-loop time)."""

    text: str
    started_at: float


class AgentLine(Protocol):
    async def say(self, text: str) -> Spoken:
        """Speak to the contact; raises :class:`LineClosed` once hung up."""

    async def listen(self, wait_seconds: float) -> Heard | None:
        """The contact's next turn, or None after ``wait_seconds`` of silence."""

    async def press(self, digits: str) -> None:
        """Press keypad keys (``0-9*#A-D``; ``w`` and ``W`` pause half a second and a second),
        taking as long as their tones would; the contact gets them in order with what is
        said. Raises :class:`LineClosed` once hung up, ValueError for anything not a key."""

    def hangup(self, by: str) -> None:
        """End the call."""
