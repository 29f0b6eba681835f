"""Streaming speech-to-text on Deepgram's live ``/v1/listen`` WebSocket.

The protocol (developers.deepgram.com, "Live audio"): connect to
``wss://api.deepgram.com/v1/listen`` with the options as query parameters and
``Authorization: Token <key>``; send the audio as binary messages (here raw
``encoding=linear16`` at ``sample_rate=16000``, one channel, one message per 20 ms frame);
control with text messages ``{"type": "KeepAlive"}`` (the server closes a stream that gets no
audio for 10 s), ``{"type": "Finalize"}`` (flush: finals for what was sent) and
``{"type": "CloseStream"}`` (the server sends what it still has, its ``Metadata``, and closes
normally). It answers with JSON text messages:

- ``Results``: ``channel.alternatives[0].transcript`` of ``start`` .. ``start + duration``
  seconds, ``is_final`` (settled) and ``speech_final`` (``endpointing`` ms of silence
  followed: the contact's turn is over);
- ``SpeechStarted`` (``vad_events=true``) with its ``timestamp``;
- ``UtteranceEnd`` (``utterance_end_ms``, needs ``interim_results=true``) with
  ``last_word_end``: the word gap that ends a turn when noise kept endpointing from firing;
- ``Metadata`` when the stream closes.

A refused handshake (401 for a wrong key, 400 for bad options, 429, 5xx) and a dropped
connection become :class:`ProviderError` (``provider="deepgram"``) by the rule of
:mod:`voxline.voice.remote`; a close with 1008 (the server could not decode the audio) is
not retryable, any other abnormal close is. The key travels in the header only, never in the
URL, and no message names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode

from voxline.errors import ProviderError
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.remote import open_socket
from voxline.voice.stt.stream import BatchOverStream, TranscriptEvent, TranscriptKind

PROVIDER = "deepgram"
LABEL = "Deepgram"
DEFAULT_BASE_URL = "wss://api.deepgram.com/v1"
DEFAULT_MODEL = "nova-3"
KEEPALIVE_SECONDS = 5.0


class DeepgramStt:
    """Deepgram live transcription: a :class:`~voxline.voice.stt.stream.StreamingSpeechToText`
    (one :class:`DeepgramStream` per call) and, over a short stream each, a batch
    :class:`~voxline.voice.stt.base.SpeechToText`."""

    name = PROVIDER

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        language: str | None = None,
        endpointing_ms: int = 300,
        utterance_end_ms: int = 1000,
        open_timeout_seconds: float = 5.0,
        close_timeout_seconds: float = 5.0,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.language = language
        self.endpointing_ms = endpointing_ms
        self.utterance_end_ms = utterance_end_ms
        self.open_timeout_seconds = open_timeout_seconds
        self.close_timeout_seconds = close_timeout_seconds
        self.keepalive_seconds = keepalive_seconds
        self._key = api_key

    def __repr__(self) -> str:  # never the key
        return f"DeepgramStt(base_url={self.base_url!r}, model={self.model!r})"

    def url(self) -> str:
        """The ``/listen`` URL with this engine's options (no credential in it)."""
        params: dict[str, str | int] = {
            "model": self.model,
            "encoding": "linear16",
            "sample_rate": SAMPLE_RATE,
            "channels": 1,
            "interim_results": "true",
            "punctuate": "true",
            "endpointing": self.endpointing_ms,
            "utterance_end_ms": self.utterance_end_ms,
            "vad_events": "true",
        }
        if self.language:
            params["language"] = self.language
        return f"{self.base_url}/listen?{urlencode(params)}"

    async def open(self) -> DeepgramStream:
        headers = {"Authorization": f"Token {self._key}"} if self._key else {}
        connection = await open_socket(
            self.url(),
            headers,
            provider=PROVIDER,
            label=LABEL,
            setting="stt_base_url",
            open_timeout=self.open_timeout_seconds,
            close_timeout=self.close_timeout_seconds,
            max_size=2**20,
        )
        return DeepgramStream(
            connection,
            keepalive_seconds=self.keepalive_seconds,
            close_timeout=self.close_timeout_seconds,
        )

    async def transcribe(self, pcm16_16k: bytes) -> str:
        """One utterance over a stream of its own (batch port)."""
        return await BatchOverStream(self).transcribe(pcm16_16k)


def _dropped(exc: ConnectionClosed) -> ProviderError:
    code = exc.rcvd.code if exc.rcvd is not None else CloseCode.ABNORMAL_CLOSURE
    return ProviderError(
        f"{LABEL} closed the stream (code {int(code)})",
        provider=PROVIDER,
        retryable=code != CloseCode.POLICY_VIOLATION,
    )


class DeepgramStream:
    """One live ``/listen`` connection (see the module docstring); keeps itself alive with
    ``KeepAlive`` while no audio is sent."""

    def __init__(
        self, connection: ClientConnection, *, keepalive_seconds: float, close_timeout: float
    ) -> None:
        self._connection = connection
        self._close_timeout = close_timeout
        self._keepalive_seconds = keepalive_seconds
        self._closing = False
        self._last_sent = asyncio.get_running_loop().time()
        self._keepalive = asyncio.ensure_future(self._keep_alive())

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            idle = loop.time() - self._last_sent
            if idle >= self._keepalive_seconds:
                with contextlib.suppress(ConnectionClosed):
                    await self._control("KeepAlive")
                idle = 0.0
            await asyncio.sleep(self._keepalive_seconds - idle)

    async def _control(self, kind: str) -> None:
        await self._connection.send(json.dumps({"type": kind}))
        self._last_sent = asyncio.get_running_loop().time()

    async def send(self, pcm16_16k: bytes) -> None:
        if not pcm16_16k:
            return  # an empty binary message would close a Deepgram stream
        try:
            await self._connection.send(pcm16_16k)
        except ConnectionClosed as exc:
            raise _dropped(exc) from None
        self._last_sent = asyncio.get_running_loop().time()

    async def finalize(self) -> None:
        try:
            await self._control("Finalize")
        except ConnectionClosed as exc:
            raise _dropped(exc) from None

    async def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._keepalive.cancel()
        with contextlib.suppress(ConnectionClosed):
            await self._control("CloseStream")
        # The server answers CloseStream with its last results and closes; the reader of
        # events() drains them meanwhile. Past the close timeout the socket is closed here.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connection.wait_closed(), self._close_timeout)
        await self._connection.close()

    async def events(self) -> AsyncIterator[TranscriptEvent]:
        try:
            async for message in self._connection:
                if isinstance(message, bytes):
                    continue
                event = parse_message(message)
                if event is not None:
                    yield event
        except ConnectionClosed as exc:
            raise _dropped(exc) from None
        finally:
            self._keepalive.cancel()


def parse_message(message: str) -> TranscriptEvent | None:
    """A Deepgram text message as an event; None for ``Metadata`` and unknown types.

    Raises :class:`ProviderError` for what is not a JSON object, and for ``Error`` messages.
    """
    try:
        data: Any = json.loads(message)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"{LABEL} sent a malformed message", provider=PROVIDER, retryable=True)
    kind = data.get("type")
    if kind == "Results":
        alternatives = (data.get("channel") or {}).get("alternatives") or [{}]
        start = float(data.get("start") or 0.0)
        return TranscriptEvent(
            TranscriptKind.FINAL if data.get("is_final") else TranscriptKind.INTERIM,
            str(alternatives[0].get("transcript") or ""),
            speech_final=bool(data.get("speech_final")),
            start_s=start,
            end_s=start + float(data.get("duration") or 0.0),
        )
    if kind == "SpeechStarted":
        at = float(data.get("timestamp") or 0.0)
        return TranscriptEvent(TranscriptKind.SPEECH_STARTED, start_s=at, end_s=at)
    if kind == "UtteranceEnd":
        at = float(data.get("last_word_end") or 0.0)
        return TranscriptEvent(TranscriptKind.UTTERANCE_END, start_s=at, end_s=at)
    if kind == "Error":
        raise ProviderError(
            f"{LABEL} reported an error: {str(data.get('err_code') or 'unknown')[:40]}",
            provider=PROVIDER,
            retryable=False,
        )
    return None
