"""Streaming text-to-speech on Cartesia's TTS WebSocket.

Why Cartesia rather than ElevenLabs' ``stream-input`` socket: Cartesia multiplexes
generations over one socket, each under a ``context_id`` the client picks, and a context can
be cancelled (``{"context_id", "cancel": true}``) without closing the socket. So one socket
per process serves every call's clauses, first-chunk latency pays no TCP/TLS handshake per
clause, and a barge-in stops the clause being generated and nothing else. ElevenLabs'
``stream-input`` carries one utterance per socket (an empty text ends it and the server
closes), and per-context cancellation needs its separate multi-context endpoint. Both offer
PCM at our rate (Cartesia ``pcm_s16le`` at 16000 Hz, ElevenLabs ``pcm_16000``), so neither
needs resampling.

The protocol (docs.cartesia.ai, "Text to Speech (WebSocket)"): connect to
``wss://api.cartesia.ai/tts/websocket`` with ``X-API-Key`` and ``Cartesia-Version``
headers; send ``{"model_id", "transcript", "voice": {"mode": "id", "id"}, "language",
"context_id", "output_format": {"container": "raw", "encoding": "pcm_s16le",
"sample_rate": 16000}, "continue": false}``; receive for that context ``{"type": "chunk",
"data": <base64 audio>}`` messages, then ``{"type": "done"}``, or ``{"type": "error",
"status_code", "error"}``.

Failures raise :class:`ProviderError` (``provider="cartesia"``): a refused handshake or an
error message by the HTTP status rule of :mod:`voxline.voice.remote`, a dropped socket as
retryable (the next synthesis opens a new one). Messages never hold the key or the text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from voxline.errors import ProviderError
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.remote import open_socket, retryable_status, timed_out, unreachable
from voxline.voice.tts.base import VoiceInfo
from voxline.voice.tts.openai import remote_voice
from voxline.voice.voices import VOICES

PROVIDER = "cartesia"
LABEL = "Cartesia"
DEFAULT_BASE_URL = "wss://api.cartesia.ai"
DEFAULT_MODEL = "sonic-2"
# A stock English voice of Cartesia's library; VOXLINE_TTS_VOICE picks another.
DEFAULT_VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"
API_VERSION = "2024-11-13"
_CATALOGUE = frozenset(voice.id for voice in VOICES)

_Message = bytes | ProviderError | None  # audio, a failure, or the context's end


class CartesiaTts:
    """The :class:`~voxline.voice.tts.base.TextToSpeech` of Cartesia, over one shared socket
    (opened on first use, again after a drop); :meth:`stream` yields audio as it arrives."""

    name = PROVIDER

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        voice: str = DEFAULT_VOICE,
        language: str = "en",
        open_timeout_seconds: float = 5.0,
        chunk_timeout_seconds: float = 10.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/tts/websocket"
        self.model = model
        self.voice = voice
        self.language = language
        self.open_timeout_seconds = open_timeout_seconds
        self.chunk_timeout_seconds = chunk_timeout_seconds
        self._key = api_key
        self._connection: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._contexts: dict[str, asyncio.Queue[_Message]] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:  # never the key
        return f"CartesiaTts(url={self.url!r}, model={self.model!r}, voice={self.voice!r})"

    def voices(self) -> list[VoiceInfo]:
        return [remote_voice(PROVIDER, self.voice)]

    def engine_voice(self, voice: str | None) -> str:
        """Cartesia's voice id for ``voice``: the configured one for None or a catalogue id."""
        return self.voice if voice is None or voice in _CATALOGUE else voice

    async def aclose(self) -> None:
        """Close the socket (in-flight syntheses fail as dropped)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        return b"".join([chunk async for chunk in self.stream(text, voice)])

    async def stream(self, text: str, voice: str | None = None) -> AsyncIterator[bytes]:
        """``text`` spoken, as 16 kHz PCM16 chunks while Cartesia generates them. Closing
        the iterator early (a barge-in) cancels the context at Cartesia."""
        if not text.strip():
            return
        context_id = uuid.uuid4().hex
        queue: asyncio.Queue[_Message] = asyncio.Queue()
        connection = await self._connect()
        self._contexts[context_id] = queue
        finished = False
        odd = b""
        try:
            request = {
                "model_id": self.model,
                "transcript": text,
                "voice": {"mode": "id", "id": self.engine_voice(voice)},
                "language": self.language,
                "context_id": context_id,
                "output_format": {
                    "container": "raw",
                    "encoding": "pcm_s16le",
                    "sample_rate": SAMPLE_RATE,
                },
                "continue": False,
            }
            try:
                await connection.send(json.dumps(request))
            except ConnectionClosed as exc:
                raise unreachable(PROVIDER, LABEL, exc) from None
            while True:
                try:
                    async with asyncio.timeout(self.chunk_timeout_seconds):
                        message = await queue.get()
                except TimeoutError:
                    raise timed_out(PROVIDER, LABEL) from None
                if message is None:
                    finished = True
                    return
                if isinstance(message, ProviderError):
                    finished = True
                    raise message
                # Samples may straddle messages: an odd byte waits for the next one.
                message, odd = odd + message, b""
                if len(message) % 2:
                    message, odd = message[:-1], message[-1:]
                if message:
                    yield message
        finally:
            self._contexts.pop(context_id, None)
            if not finished and self._connection is connection:
                with contextlib.suppress(ConnectionClosed):
                    await connection.send(json.dumps({"context_id": context_id, "cancel": True}))

    async def _connect(self) -> ClientConnection:
        async with self._lock:
            if self._connection is not None:
                return self._connection
            headers = {"Cartesia-Version": API_VERSION}
            if self._key:
                headers["X-API-Key"] = self._key
            connection = await open_socket(
                self.url,
                headers,
                provider=PROVIDER,
                label=LABEL,
                setting="tts_base_url",
                open_timeout=self.open_timeout_seconds,
                max_size=2**22,
            )
            self._connection = connection
            self._reader = asyncio.ensure_future(self._read(connection))
            return connection

    async def _read(self, connection: ClientConnection) -> None:
        """Route each message to its context; a drop fails every context in flight."""
        failure: ProviderError | None = None
        try:
            async for raw in connection:
                parsed = parse_message(raw)
                queue = self._contexts.get(parsed[0] or "") if parsed is not None else None
                if parsed is not None and queue is not None:
                    queue.put_nowait(parsed[1])
        except ConnectionClosed as exc:
            failure = unreachable(PROVIDER, LABEL, exc)
        except ProviderError as exc:
            failure = exc
        finally:
            if self._connection is connection:
                self._connection = None
            dropped = failure or ProviderError(
                f"{LABEL} closed the socket", provider=PROVIDER, retryable=True
            )
            for queue in self._contexts.values():
                queue.put_nowait(dropped)
            with contextlib.suppress(Exception):
                await connection.close()


def parse_message(raw: str | bytes) -> tuple[str | None, _Message] | None:
    """``(context_id, message)`` of one server message: audio, a :class:`ProviderError`,
    or None for ``done``; None for a message to ignore (timestamps, ``flush_done``).

    Raises :class:`ProviderError` for what is not a JSON object.
    """
    try:
        data: Any = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"{LABEL} sent a malformed message", provider=PROVIDER, retryable=True)
    context_id = data.get("context_id")
    context_id = context_id if isinstance(context_id, str) else None
    kind = data.get("type")
    if kind == "chunk":
        try:
            return context_id, base64.b64decode(str(data.get("data") or ""), validate=True)
        except (binascii.Error, ValueError):
            return context_id, ProviderError(
                f"{LABEL} sent undecodable audio", provider=PROVIDER, retryable=True
            )
    if kind == "done":
        return context_id, None
    if kind == "error":
        status = data.get("status_code")
        status = status if isinstance(status, int) and status >= 400 else 500
        return context_id, ProviderError(
            f"{LABEL} reported an error (HTTP {status})",
            provider=PROVIDER,
            retryable=retryable_status(status),
            http_status=status,
        )
    return None
