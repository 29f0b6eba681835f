"""A scripted contact on a text line, in simulated time.

The :class:`~voxline.voice.channel.AgentLine` counterpart of :class:`FakeLine`: the same
:class:`ContactLine` script, played on a :class:`VirtualClock`. Saying something takes as long
as speaking it would (:func:`speaking_ms`); a line with ``barge_in_after_ms`` cuts the agent's
next turn that far in, and the agent is told how much it got to say.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voxline.domain.phone import is_keypad_digits
from voxline.testing.clock import VirtualClock
from voxline.testing.line import ContactLine
from voxline.testing.speech import speaking_ms
from voxline.voice.channel import Heard, LineClosed, Spoken
from voxline.voice.dtmf import key_ms


@dataclass
class FakeTextLine:
    """The :class:`~voxline.voice.channel.AgentLine` of a scripted contact.

    ``hang_up_after_ms``: once its lines are said, the contact hangs up after the agent has
    been quiet that long (None: it stays on the line, silent).
    """

    lines: list[ContactLine]
    clock: VirtualClock
    hang_up_after_ms: int | None = None
    closed_by: str | None = None
    closed_at: float | None = None
    # What the agent said, with when it started saying it.
    said: list[tuple[float, Spoken]] = field(default_factory=list)
    # The keys the agent pressed, with when it started pressing them.
    pressed: list[tuple[float, str]] = field(default_factory=list)
    _barged_in: Heard | None = None

    @property
    def closed(self) -> bool:
        return self.closed_by is not None

    async def say(self, text: str) -> Spoken:
        if self.closed:
            raise LineClosed
        started = self.clock.now()
        talk_ms = speaking_ms(text)
        line = self.lines[0] if self.lines else None
        barge_in = line.barge_in_after_ms if line is not None else None
        if line is not None and barge_in is not None and barge_in < talk_ms:
            self.lines.pop(0)
            await self.clock.sleep(barge_in / 1000)
            words = text.split()
            spoken = Spoken(" ".join(words[: len(words) * barge_in // talk_ms]), True)
            self._barged_in = Heard(line.text, self.clock.now())
        else:
            await self.clock.sleep(talk_ms / 1000)
            spoken = Spoken(text, False)
        self.said.append((started, spoken))
        if self.closed:
            raise LineClosed
        return spoken

    async def press(self, digits: str) -> None:
        if self.closed:
            raise LineClosed
        if not is_keypad_digits(digits):
            raise ValueError("keys must be 0-9, *, #, A-D, w or W (at most 64)")
        self.pressed.append((self.clock.now(), digits))
        await self.clock.sleep(sum(key_ms(key) for key in digits) / 1000)
        if self.closed:
            raise LineClosed

    async def listen(self, wait_seconds: float) -> Heard | None:
        if self.closed:
            raise LineClosed
        if self._barged_in is not None:
            heard, self._barged_in = self._barged_in, None
            await self.clock.sleep(speaking_ms(heard.text) / 1000)
            return heard
        line = self.lines[0] if self.lines else None
        if line is not None and line.barge_in_after_ms is None:
            self.lines.pop(0)
            await self.clock.sleep(line.after_quiet_ms / 1000)
            started = self.clock.now()
            await self.clock.sleep(speaking_ms(line.text) / 1000)
            return Heard(line.text, started)
        hang_up_s = None if self.hang_up_after_ms is None else self.hang_up_after_ms / 1000
        if line is None and hang_up_s is not None and hang_up_s <= wait_seconds:
            await self.clock.sleep(hang_up_s)
            self.hangup("contact")
            raise LineClosed
        await self.clock.sleep(wait_seconds)
        return None

    def hangup(self, by: str) -> None:
        if self.closed_by is None:
            self.closed_by = by
            self.closed_at = self.clock.now()
