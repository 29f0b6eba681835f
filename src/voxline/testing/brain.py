"""A brain that answers from a script and records what it was told."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from voxline.errors import ProviderError
from voxline.voice.brain.base import Reply, Turn

STILL_THERE = "Are you still there?"
SILENT_GOODBYE = "I'll let you go. Goodbye!"


@dataclass
class FakeBrain:
    """Greets with ``greeting``, answers each contact turn with the next of ``replies``
    (then with "Okay."), asks once after a silence and says goodbye after the second.

    ``failures`` replies fail first (each raising :class:`ProviderError`), as an LLM server
    outage would.
    """

    greeting: str = "Hello, this is Ava."
    replies: deque[Reply] = field(default_factory=deque)
    failures: int = 0
    heard: list[list[Turn]] = field(default_factory=list)

    async def greet(self) -> Reply:
        return Reply(self.greeting)

    async def respond(self, history: Sequence[Turn]) -> Reply:
        self.heard.append(list(history))
        if len(self.heard) <= self.failures:
            raise ProviderError("fake brain is down", provider="fake-brain", retryable=True)
        return self.replies.popleft() if self.replies else Reply("Okay.")

    async def on_silence(self, attempts: int) -> Reply:
        if attempts >= 2:
            return Reply(SILENT_GOODBYE, end_call=True)
        return Reply(STILL_THERE)
