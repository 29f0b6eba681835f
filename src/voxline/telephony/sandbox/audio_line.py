"""A live audio phone line between the agent and the simulated callee.

Each end is a :class:`~voxline.voice.transport.MediaTransport`: frames one end sends arrive
at the other end's ``receive``. Both ends pace their own sending at 20 ms, as a real call's
media does, so the line itself holds no clock and buffers nothing of note.

A line with a :class:`~voxline.telephony.sandbox.personas.LineEcho` also returns the agent's
voice to the agent, mixed into what the callee sends: delayed, attenuated and muffled, as a
carrier's hybrid or a handset without echo cancelling does.
"""

from __future__ import annotations

import asyncio

import numpy as np

from voxline.telephony.sandbox.hangup import Hangup
from voxline.telephony.sandbox.personas import LineEcho
from voxline.voice.channel import LineClosed
from voxline.voice.frames import SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame

# Past this much backlog beyond the delay (the callee's side stalled), the echo catches up.
_ECHO_SLACK_MS = 1000
_MUFFLE = np.array([0.5, 0.3, 0.2])


class AudioLine(Hangup):
    def __init__(self, echo: LineEcho | None = None) -> None:
        super().__init__()
        to_agent: asyncio.Queue[AudioFrame] = asyncio.Queue()
        to_contact: asyncio.Queue[AudioFrame] = asyncio.Queue()
        returns = _Echo(echo) if echo is not None else None
        self.agent = AudioEnd(self, inbox=to_agent, outbox=to_contact, echo_source=returns)
        self.contact = AudioEnd(self, inbox=to_contact, outbox=to_agent, echo_mix=returns)


class _Echo:
    """The agent's audio on its way back: a FIFO that starts ``delay_ms`` deep with the
    agent's first frame, so each sample comes back that much later."""

    def __init__(self, echo: LineEcho) -> None:
        self.delay_bytes = int(echo.delay_ms * SAMPLE_RATE / 1000) * SAMPLE_WIDTH
        self.gain = 10 ** (echo.gain_db / 20)
        self._fifo = bytearray()
        self._started = False
        self._tail = np.zeros(len(_MUFFLE) - 1)  # the muffling filter's last inputs

    def sent(self, pcm: bytes) -> None:
        if not self._started:
            self._started = True
            self._fifo += bytes(self.delay_bytes)
        self._fifo += pcm
        excess = len(self._fifo) - self.delay_bytes - _ECHO_SLACK_MS * SAMPLE_RATE // 1000 * 2
        if excess > 0:
            del self._fifo[: excess - excess % SAMPLE_WIDTH]

    def mix(self, pcm: bytes) -> bytes:
        if not self._started:
            return pcm
        take = bytes(self._fifo[: len(pcm)])
        del self._fifo[: len(take)]
        take += bytes(len(pcm) - len(take))
        samples = np.frombuffer(take, dtype=np.int16).astype(np.float64) * self.gain
        padded = np.concatenate((self._tail, samples))
        self._tail = padded[len(padded) - len(self._tail) :]
        echo = np.convolve(padded, _MUFFLE, mode="valid")  # the line's band limit
        mixed = np.frombuffer(pcm, dtype=np.int16).astype(np.float64) + echo
        return np.clip(np.rint(mixed), -32768, 32767).astype(np.int16).tobytes()


class AudioEnd:
    """One side of an :class:`AudioLine`: 16 kHz frames both ways."""

    line_rate = SAMPLE_RATE

    def __init__(
        self,
        line: AudioLine,
        *,
        inbox: asyncio.Queue[AudioFrame],
        outbox: asyncio.Queue[AudioFrame],
        echo_source: _Echo | None = None,
        echo_mix: _Echo | None = None,
    ) -> None:
        self.line = line
        self._inbox = inbox
        self._outbox = outbox
        self._echo_source = echo_source
        self._echo_mix = echo_mix

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
        if self._echo_source is not None:
            self._echo_source.sent(frame.pcm)
        if self._echo_mix is not None:
            frame = AudioFrame(self._echo_mix.mix(frame.pcm), frame.sample_rate)
        self._outbox.put_nowait(frame)

    async def clear(self) -> None:
        """Nothing waits on the far side: frames are played as they arrive."""
        return None

    def hangup(self, by: str) -> None:
        self.line.hangup(by)
