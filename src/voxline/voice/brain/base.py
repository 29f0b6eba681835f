"""The brain port: ``respond(history) → reply`` (text, whether to end the call, and the
tools it calls).

A history is what was said (:class:`Utterance`) and what the agent did (:class:`ToolTurn`:
the tool calls of one agent turn and their results), in order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str  # "agent" or "contact"
    text: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: its name, when to use it, and its arguments' JSON
    Schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asks for a tool: ``arguments`` is the JSON text it wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call came to, as the model reads it (JSON text)."""

    call_id: str
    name: str
    content: str


@dataclass(frozen=True, slots=True)
class ToolTurn:
    """An agent turn that called tools: what it said first, its calls and their results."""

    text: str
    calls: tuple[ToolCall, ...]
    results: tuple[ToolResult, ...]


Turn = Utterance | ToolTurn


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    end_call: bool = False
    tool_calls: tuple[ToolCall, ...] = ()


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
    tools: tuple[ToolSpec, ...] = ()


class Brain(Protocol):
    async def greet(self) -> Reply:
        """The first thing the agent says once the call connects."""

    async def respond(self, history: Sequence[Turn]) -> Reply:
        """The agent's next turn after the contact spoke, or after its tool calls' results
        (``history`` ends with them)."""

    async def on_silence(self, attempts: int) -> Reply:
        """What to say after the contact stayed silent ``attempts`` times in a row."""


@runtime_checkable
class StreamingBrain(Brain, Protocol):
    def stream(self, history: Sequence[Turn]) -> AsyncIterator[str | EndCall | ToolCall]:
        """The next turn as it is produced: text pieces, then every :class:`ToolCall`, then
        :class:`EndCall` if the agent ends the call. ``history`` empty means the opening turn
        (no greeting configured)."""
