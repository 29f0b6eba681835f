"""A live text-mode phone line between the agent and a simulated callee.

The agent side ``say``s, ``press``es keys and ``listen``s; the callee side hears each agent
utterance as it starts (so it can talk over it) and each key as its tone ends, in the order
they came, and ``speak``s back. Saying something takes as long as
speaking it would (scaled), and an utterance cut short by the callee is reported with only
the words that were actually said.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from voxline.domain.phone import is_keypad_digits
from voxline.telephony.sandbox.hangup import Hangup
from voxline.telephony.sandbox.personas import speaking_seconds
from voxline.voice.channel import Heard, LineClosed, Spoken
from voxline.voice.dtmf import PAUSES_MS, key_ms

__all__ = ["AgentUtterance", "Keypress", "LineClosed", "TextLine", "silence_timeout"]

# Real seconds of silence the agent waits out at the least, whatever the time scale: a callee
# answers within a few scaled milliseconds, but on a loaded machine the event loop can stall
# for longer than that, and a reply that arrives late must not be taken for a silence.
MIN_REAL_CONTACT_SILENCE_SECONDS = 1.0


def silence_timeout(seconds: float, time_scale: float) -> float:
    """The silence the agent waits out on a text line running at ``time_scale``."""
    return max(seconds * time_scale, min(seconds, MIN_REAL_CONTACT_SILENCE_SECONDS))


@dataclass
class AgentUtterance:
    """An agent utterance as the callee perceives it: heard from its start."""

    text: str
    seconds: float
    finished: asyncio.Future[Spoken] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Keypress:
    """A keypad key the agent pressed, as the callee perceives it: once its tone ended."""

    key: str


class TextLine(Hangup):
    def __init__(self, time_scale: float) -> None:
        super().__init__()
        self.time_scale = time_scale
        # What the callee said, in order (for tests and the transfer record).
        self.contact_said: list[str] = []
        self._to_agent: asyncio.Queue[Heard] = asyncio.Queue()
        self._to_contact: asyncio.Queue[AgentUtterance | Keypress] = asyncio.Queue()
        self._interrupt = asyncio.Event()

    async def _sleep_or_close(self, seconds: float, also: asyncio.Event | None = None) -> bool:
        """Sleep; True when cut short by hang-up (or ``also``)."""
        waiters = [asyncio.ensure_future(self._closed.wait())]
        if also is not None:
            waiters.append(asyncio.ensure_future(also.wait()))
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in waiters:
                task.cancel()
        return bool(done)

    # The agent's side.

    async def say(self, text: str) -> Spoken:
        """Speak ``text`` to the callee; returns what was said before any interruption."""
        if self.closed:
            raise LineClosed
        seconds = speaking_seconds(text) * self.time_scale
        loop = asyncio.get_running_loop()
        utterance = AgentUtterance(text, seconds, loop.create_future())
        self._interrupt.clear()
        started = loop.time()
        self._to_contact.put_nowait(utterance)
        cut = await self._sleep_or_close(seconds, self._interrupt)
        if cut:
            elapsed = loop.time() - started
            words = text.split()
            kept = math.floor(len(words) * min(1.0, elapsed / seconds)) if seconds else 0
            spoken = Spoken(" ".join(words[:kept]), interrupted=True)
        else:
            spoken = Spoken(text, interrupted=False)
        if not utterance.finished.done():
            utterance.finished.set_result(spoken)
        if self.closed and not spoken.text:
            raise LineClosed
        return spoken

    async def press(self, digits: str) -> None:
        """Press keypad keys: each reaches the callee once its tone ended (pauses send
        nothing); takes as long as the tones would, scaled."""
        if not is_keypad_digits(digits):
            raise ValueError("keys must be 0-9, *, #, A-D, w or W (at most 64)")
        for key in digits:
            if self.closed:
                raise LineClosed
            if await self._sleep_or_close(key_ms(key) / 1000 * self.time_scale):
                raise LineClosed
            if key not in PAUSES_MS:
                self._to_contact.put_nowait(Keypress(key))

    async def listen(self, wait_seconds: float) -> Heard | None:
        """The callee's next utterance; None after ``wait_seconds`` of silence."""
        return await self.next_or_closed(self._to_agent, wait_seconds)

    # The callee's side.

    async def next_agent_utterance(self) -> AgentUtterance:
        """Wait for the agent to start saying something (keys pressed meanwhile are not
        heard: only a phone menu listens for them)."""
        while True:
            item = await self.next_from_agent()
            if isinstance(item, AgentUtterance):
                return item

    async def next_from_agent(
        self, wait_seconds: float | None = None
    ) -> AgentUtterance | Keypress | None:
        """The agent's next utterance or key, in the order they came; None after
        ``wait_seconds`` (unscaled) without either."""
        return await self.next_or_closed(self._to_contact, wait_seconds)

    def interrupt(self) -> None:
        """Talk over the agent: its current utterance stops where it is."""
        self._interrupt.set()

    async def speak(self, text: str) -> None:
        """Say ``text`` (it reaches the agent once fully spoken)."""
        started = asyncio.get_running_loop().time()
        if await self._sleep_or_close(speaking_seconds(text) * self.time_scale):
            raise LineClosed
        self.contact_said.append(text)
        self._to_agent.put_nowait(Heard(text, started))

    async def pause(self, seconds: float) -> None:
        if await self._sleep_or_close(seconds * self.time_scale):
            raise LineClosed
