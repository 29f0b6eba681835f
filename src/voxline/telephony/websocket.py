"""A provider's media WebSocket as a :class:`~voxline.voice.transport.MediaTransport`.

Each provider's ``media.py`` codec turns its JSON messages into neutral media events and
agent audio into its messages; this class moves them over the socket for the voice session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from voxline.telephony.media_events import (
    MediaAudio,
    MediaDtmf,
    MediaEvent,
    MediaStart,
    MediaStop,
)
from voxline.voice.channel import LineClosed
from voxline.voice.frames import AudioFrame


class PendingSockets:
    """Media sockets not yet started, counted per remote address, so one address cannot hold
    more than ``per_address`` of them open (each costs memory until its start timeout)."""

    def __init__(self, per_address: int) -> None:
        self.per_address = per_address
        self._open: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        """Count one more socket of ``address``; False (not counted) when it holds its cap."""
        held = self._open.get(address, 0)
        if held >= self.per_address:
            return False
        self._open[address] = held + 1
        return True

    def leave(self, address: str) -> None:
        """A socket of ``address`` started or closed."""
        held = self._open.get(address, 0) - 1
        if held > 0:
            self._open[address] = held
        else:
            self._open.pop(address, None)


class LiveStreams:
    """The calls whose media stream this process holds: one stream per call, so a second
    socket for a live call cannot hear the agent or speak as the contact."""

    def __init__(self) -> None:
        self._calls: set[str] = set()

    def claim(self, call_id: str) -> bool:
        """Hold ``call_id``'s stream; False when this process holds it already."""
        if call_id in self._calls:
            return False
        self._calls.add(call_id)
        return True

    def release(self, call_id: str) -> None:
        """The stream of ``call_id`` ended."""
        self._calls.discard(call_id)


class MediaCodec(Protocol):
    """One provider's media-stream messages ⇄ neutral media events and agent audio. Every
    provider's codec has exactly these methods (``tests/telephony/test_codecs.py``)."""

    @property
    def line_rate(self) -> int:
        """The wire's sample rate: :meth:`audio` takes frames at this rate as they are."""

    def parse(self, text: str) -> list[MediaEvent]:
        """The events in one message from the provider."""

    def finish(self) -> list[MediaEvent]:
        """The contact's audio still held once the socket closed, then ``MediaStop``."""

    def audio(self, frame: AudioFrame) -> list[str]:
        """Messages carrying one agent frame (some audio may be held back)."""

    def flush(self) -> list[str]:
        """Messages carrying all agent audio held back (the end of an utterance)."""

    def mark(self, name: str) -> list[str]:
        """Held-back audio, then a message the provider echoes once all of it played."""

    def clear(self) -> str:
        """The message that drops agent audio queued at the provider (barge-in)."""


class WebSocketTransport:
    def __init__(
        self,
        socket: WebSocket,
        codec: MediaCodec,
        *,
        on_hangup: Callable[[], Awaitable[None]],
        on_dtmf: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.socket = socket
        self.codec = codec
        self._on_hangup = on_hangup
        self._on_dtmf = on_dtmf
        self._frames: asyncio.Queue[AudioFrame] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._hanging_up: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def line_rate(self) -> int:
        return self.codec.line_rate

    async def wait_start(self) -> MediaStart:
        """Read until the provider's start message (earlier audio is kept)."""
        while True:
            for event in await self._read():
                if isinstance(event, MediaStart):
                    return event
                await self._handle(event)
            if self.closed:
                raise LineClosed

    async def _read(self) -> list[MediaEvent]:
        try:
            text = await self.socket.receive_text()
        except (WebSocketDisconnect, RuntimeError):
            self._closed.set()
            return []
        try:
            return self.codec.parse(text)
        except (ValueError, RecursionError):
            # A malformed message (or one nested too deep to parse) is dropped; the stream
            # goes on.
            return []

    async def _handle(self, event: MediaEvent) -> None:
        if isinstance(event, MediaAudio):
            self._frames.put_nowait(event.frame)
        elif isinstance(event, MediaStop):
            self._closed.set()
        elif isinstance(event, MediaDtmf) and self._on_dtmf is not None:
            await self._on_dtmf(event.digit)

    async def pump(self) -> None:
        """Read the socket until it closes (run beside the voice session)."""
        while not self.closed:
            for event in await self._read():
                await self._handle(event)

    async def receive(self) -> AudioFrame:
        return await next_frame(self._frames, self._closed)

    async def send(self, frame: AudioFrame) -> None:
        if self.closed:
            raise LineClosed
        try:
            for message in self.codec.audio(frame):
                await self.socket.send_text(message)
        except (WebSocketDisconnect, RuntimeError):
            self._closed.set()
            raise LineClosed from None

    async def clear(self) -> None:
        if not self.closed:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.socket.send_text(self.codec.clear())

    def hangup(self, by: str) -> None:
        """The agent ends the call: ask the provider to hang up, stop the stream."""
        if self.closed:
            return
        self._closed.set()
        if by == "agent" and self._hanging_up is None:
            self._hanging_up = asyncio.ensure_future(self._on_hangup())

    async def finish(self) -> None:
        """Wait for a hang-up request in flight and close the socket."""
        if self._hanging_up is not None:
            await self._hanging_up
        with contextlib.suppress(Exception):
            await self.socket.close()


async def next_frame(frames: asyncio.Queue[AudioFrame], closed: asyncio.Event) -> AudioFrame:
    """The next frame a media socket received; :class:`LineClosed` once ``closed`` is set
    and none is left."""
    if not frames.empty():
        return frames.get_nowait()
    if closed.is_set():
        raise LineClosed
    getter = asyncio.ensure_future(frames.get())
    closer = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closer.cancel()
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    raise LineClosed
