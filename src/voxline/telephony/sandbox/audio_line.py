"""A live audio phone line between the agent and the simulated callee.

Each end is a :class:`~voxline.voice.transport.MediaTransport`: frames one end sends arrive
at the other end's ``receive``. Both ends pace their own sending at 20 ms, as a real call's
media does, so the line itself holds no clock and buffers nothing of note.
"""

from __future__ import annotations

import asyncio

from voxline.telephony.sandbox.hangup import Hangup
from voxline.voice.channel import LineClosed
from voxline.voice.frames import SAMPLE_RATE, AudioFrame


class AudioLine(Hangup):
    def __init__(self) -> None:
        super().__init__()
        to_agent: asyncio.Queue[AudioFrame] = asyncio.Queue()
        to_contact: asyncio.Queue[AudioFrame] = asyncio.Queue()
        self.agent = AudioEnd(self, inbox=to_agent, outbox=to_contact)
        self.contact = AudioEnd(self, inbox=to_contact, outbox=to_agent)


class AudioEnd:
    """One side of an :class:`AudioLine`: 16 kHz frames both ways."""

    line_rate = SAMPLE_RATE

    def __init__(
        self,
        line: AudioLine,
        *,
        inbox: asyncio.Queue[AudioFrame],
        outbox: asyncio.Queue[AudioFrame],
    ) -> None:
        self.line = line
        self._inbox = inbox
        self._outbox = outbox

    @property
    def closed(self) -> bool:
        return self.line.closed

    async def receive(self) -> AudioFrame:
        frame = await self.line.next_or_closed(self._inbox)
        assert frame is not None  # no timeout was given
        return frame

    def discard_received(self) -> None:
        """Drop the frames that arrived and were not received yet."""
        while not self._inbox.empty():
            self._inbox.get_nowait()

    async def send(self, frame: AudioFrame) -> None:
        if self.line.closed:
            raise LineClosed
        self._outbox.put_nowait(frame)

    async def clear(self) -> None:
        """Nothing waits on the far side: frames are played as they arrive."""
        return None

    def hangup(self, by: str) -> None:
        self.line.hangup(by)
