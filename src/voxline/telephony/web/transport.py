"""A browser's WebSocket as a :class:`~voxline.voice.transport.MediaTransport`.

The messages of a web call (the dashboard's ``webcall.js`` speaks the other end):

browser → Voxline
    ``{"type": "start", "token": "…"}`` first, as text: the call's token;
    binary: the microphone, 16 kHz PCM16 little-endian mono, in pieces of any size (they
    are re-cut into 20 ms frames);
    ``{"type": "hangup"}``: the person hung up (closing the socket means the same).

Voxline → browser
    ``{"type": "started"}`` once the call is connected;
    binary: the agent's voice, one 20 ms frame (or the session's media block) of 16 kHz PCM16
    per message, in real time;
    ``{"type": "clear"}``: drop the agent audio queued for playing (the person barged in);
    ``{"type": "ended", "by": "agent" | "contact"}``, then the socket closes (1000).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from voxline.telephony.websocket import next_frame
from voxline.voice.channel import LineClosed
from voxline.voice.frames import SAMPLE_RATE, AudioFrame, Framer

# A browser sends a few hundred milliseconds at most per message; more is not a microphone.
MAX_MESSAGE_BYTES = 64_000
# Frames of the person kept while the session is busy: ten seconds of audio.
MAX_QUEUED_FRAMES = 500
NORMAL_CLOSURE = 1000


class WebTransport:
    """The line of one web call. ``ended_by`` says who hung up (``agent`` or ``contact``)."""

    line_rate = SAMPLE_RATE  # the browser's audio is 16 kHz PCM16 both ways

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self._framer = Framer()
        self._frames: asyncio.Queue[AudioFrame] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._closed = asyncio.Event()
        self.ended_by: str | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _end(self, by: str) -> None:
        if self.ended_by is None:
            self.ended_by = by
        self._closed.set()

    async def _message(self) -> Mapping[str, Any] | None:
        """The next message; None (the line closed by the person) on a disconnect."""
        try:
            message = await self.socket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        return message

    async def wait_start(self) -> str | None:
        """The token of the browser's start message (None if the first message is not
        one); raises :class:`LineClosed` if the socket closes first."""
        message = await self._message()
        if message is None:
            self._end("contact")
            raise LineClosed
        control = _control(message.get("text"))
        if control.get("type") != "start" or not isinstance(control.get("token"), str):
            return None
        token: str = control["token"]
        return token

    async def pump(self) -> None:
        """Read the socket until the call ends (run beside the voice session)."""
        while not self.closed:
            message = await self._message()
            if message is None:
                self._end("contact")
                return
            audio = message.get("bytes")
            if audio is not None:
                if len(audio) <= MAX_MESSAGE_BYTES:
                    for frame in self._framer.push(audio):
                        with contextlib.suppress(asyncio.QueueFull):
                            self._frames.put_nowait(frame)
            elif _control(message.get("text")).get("type") == "hangup":
                self._end("contact")

    async def receive(self) -> AudioFrame:
        return await next_frame(self._frames, self._closed)

    async def send(self, frame: AudioFrame) -> None:
        if self.closed:
            raise LineClosed
        try:
            await self.socket.send_bytes(frame.pcm)
        except (WebSocketDisconnect, RuntimeError):
            self._end("contact")
            raise LineClosed from None

    async def send_control(self, kind: str, **fields: str) -> None:
        """A control message to the browser; nothing if the socket is gone."""
        if self.socket.application_state is not WebSocketState.CONNECTED:
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await self.socket.send_text(json.dumps({"type": kind, **fields}))

    async def clear(self) -> None:
        if not self.closed:
            await self.send_control("clear")

    def hangup(self, by: str) -> None:
        """The agent (or the platform) ends the call; :meth:`finish` tells the browser."""
        self._end(by)

    async def finish(self) -> None:
        """Tell the browser who ended the call and close the socket."""
        await self.send_control("ended", by=self.ended_by or "agent")
        with contextlib.suppress(Exception):
            await self.socket.close(NORMAL_CLOSURE)


def _control(text: object) -> dict[str, Any]:
    """A control message's fields; empty for anything that is not a JSON object."""
    if not isinstance(text, str) or len(text) > 4096:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
