"""A scripted contact on a media transport, in lockstep with the agent's frames.

The session sends one agent frame every 20 ms (of simulated time, with a VirtualClock), or a
block of them; for each 20 ms the line hands the session one contact frame back: silence, or
the tone of the line the contact is saying. So the contact reacts to the agent frame by
frame, the way a person on the phone would, and a whole call plays the same way on every
machine.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from voxline.testing.speech import FakeStt, speaking_ms, tone
from voxline.voice.channel import LineClosed
from voxline.voice.frames import (
    FRAME_BYTES,
    FRAME_MS,
    SAMPLE_RATE,
    AudioFrame,
    frame_bytes,
    silence_frame,
)


@dataclass(frozen=True, slots=True)
class ContactLine:
    """Something the contact says.

    By default the contact waits until the agent has said something and then been quiet
    for ``after_quiet_ms``. With ``barge_in_after_ms`` it talks over the agent instead, that
    long into the agent's next turn.
    """

    text: str
    after_quiet_ms: int = 400
    barge_in_after_ms: int | None = None


@dataclass
class FakeLine:
    """The :class:`~voxline.voice.transport.MediaTransport` of a scripted contact.

    ``hang_up_after_ms``: once its lines are said, the contact hangs up after the agent has
    been quiet that long (None: it stays on the line, silent).
    """

    lines: list[ContactLine]
    stt: FakeStt | None = None
    hang_up_after_ms: int | None = None
    closed_by: str | None = None
    cleared: int = 0
    # The rate agent frames may be sent at (a carrier's 8 kHz line, or 16 kHz).
    line_rate: int = SAMPLE_RATE
    # The sample rate of every agent frame received, in order.
    agent_rates: list[int] = field(default_factory=list)
    # What the agent sent, one entry per frame: True for sound, False for silence.
    agent_frames: list[bool] = field(default_factory=list)
    # (frame index, text) when the contact started each line.
    started: list[tuple[int, str]] = field(default_factory=list)
    _queue: asyncio.Queue[AudioFrame | None] = field(default_factory=asyncio.Queue)
    _speaking: bytes = b""
    _agent_heard_since_line: bool = False
    _agent_talk_ms: int = 0
    _agent_quiet_ms: int = 0

    @property
    def closed(self) -> bool:
        return self.closed_by is not None

    async def receive(self) -> AudioFrame:
        frame = await self._queue.get()
        if frame is None:
            raise LineClosed
        return frame

    async def send(self, frame: AudioFrame) -> None:
        if self.closed:
            raise LineClosed
        # A block of several 20 ms frames (a session's media_block_ms) is taken frame by
        # frame: the contact still answers each 20 ms of the agent with 20 ms of its own.
        size = frame_bytes(frame.sample_rate)
        for start in range(0, max(len(frame.pcm), 1), size):
            if self.closed:
                return
            sound = any(frame.pcm[start : start + size])
            self.agent_frames.append(sound)
            self.agent_rates.append(frame.sample_rate)
            if sound:
                self._agent_heard_since_line = True
                self._agent_talk_ms += FRAME_MS
                self._agent_quiet_ms = 0
            else:
                self._agent_talk_ms = 0
                self._agent_quiet_ms += FRAME_MS
            self._contact_turn()
            if not self.closed:
                self._queue.put_nowait(AudioFrame(self._next_contact_frame()))

    async def clear(self) -> None:
        self.cleared += 1

    def hangup(self, by: str) -> None:
        if self.closed_by is None:
            self.closed_by = by
            self._queue.put_nowait(None)

    def agent_sound_ms(self, *, after_frame: int = 0) -> int:
        """How much agent sound was sent from frame ``after_frame`` on."""
        return FRAME_MS * sum(self.agent_frames[after_frame:])

    def _contact_turn(self) -> None:
        """Start the next line when its moment has come, or hang up when all are said."""
        if self._speaking:
            return
        if not self.lines:
            quiet_enough = (
                self.hang_up_after_ms is not None and self._agent_quiet_ms >= self.hang_up_after_ms
            )
            if quiet_enough and self._agent_heard_since_line:
                self.hangup("contact")
            return
        line = self.lines[0]
        if line.barge_in_after_ms is not None:
            due = self._agent_talk_ms >= line.barge_in_after_ms
        else:
            due = self._agent_heard_since_line and self._agent_quiet_ms >= line.after_quiet_ms
        if due:
            self.lines.pop(0)
            self.started.append((len(self.agent_frames), line.text))
            self._speaking = tone(speaking_ms(line.text), frequency=330.0)
            self._agent_heard_since_line = False
            if self.stt is not None:
                self.stt.hear(line.text)

    def _next_contact_frame(self) -> bytes:
        if not self._speaking:
            return silence_frame().pcm
        frame, self._speaking = self._speaking[:FRAME_BYTES], self._speaking[FRAME_BYTES:]
        return frame.ljust(FRAME_BYTES, b"\0")
