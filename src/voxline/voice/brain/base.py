"""The brain port: ``respond(history) → reply`` (text, and whether to end the call)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str  # "agent" or "contact"
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    end_call: bool = False


@dataclass(frozen=True, slots=True)
class EndCall:
    """In a streamed reply: the agent decided to hang up once the text so far is said."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """What a brain knows of the agent and the call, with variables already rendered."""

    system_prompt: str
    greeting: str | None
    temperature: float
    model: str
    variables: Mapping[str, str]


class Brain(Protocol):
    async def greet(self) -> Reply:
        """The first thing the agent says once the call connects."""

    async def respond(self, history: Sequence[Utterance]) -> Reply:
        """The agent's next turn after the contact spoke (``history`` ends with it)."""

    async def on_silence(self, attempts: int) -> Reply:
        """What to say after the contact stayed silent ``attempts`` times in a row."""


@runtime_checkable
class StreamingBrain(Brain, Protocol):
    def stream(self, history: Sequence[Utterance]) -> AsyncIterator[str | EndCall]:
        """The next turn as it is produced: text pieces, then :class:`EndCall` if the agent
        ends the call. ``history`` empty means the opening turn (no greeting configured)."""
