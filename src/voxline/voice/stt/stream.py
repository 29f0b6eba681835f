"""The streaming speech-to-text port: audio goes up as it is heard, transcripts come back.

A batch engine (:class:`~voxline.voice.stt.base.SpeechToText`) gets a whole utterance once
the platform's VAD has decided the contact stopped. A streaming engine hears the call as it
happens and decides itself: :class:`StreamingSpeechToText` opens one :class:`SpeechStream`
per call, frames are sent as they arrive, and :class:`TranscriptEvent` s come back:

- ``SPEECH_STARTED``: the engine's VAD heard the start of speech;
- ``INTERIM``: a provisional transcript of the words so far (may change);
- ``FINAL``: the settled transcript of a stretch of audio; ``speech_final`` marks the one
  the engine's endpointing closed (the contact paused: the turn is over);
- ``UTTERANCE_END``: a gap in words long enough to end the turn, for when endpointing never
  fired (background noise keeps a VAD busy).

Times in events are seconds of the stream's audio (0 = its first sample), so no clock of the
engine's has to agree with ours. :class:`TurnAssembler` (pure) turns events into finished
turns; :class:`BatchOverStream` lets a streaming engine serve the batch port too (for a turn
the line closed on before the engine answered).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from voxline.voice.frames import SAMPLE_RATE

# How much audio a batch transcription sends per message (100 ms).
BATCH_CHUNK_BYTES = SAMPLE_RATE // 10 * 2


class TranscriptKind(StrEnum):
    SPEECH_STARTED = "speech_started"
    INTERIM = "interim"
    FINAL = "final"
    UTTERANCE_END = "utterance_end"


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    """One message of a streaming engine. ``start_s``/``end_s``: the audio it covers (for
    ``UTTERANCE_END``, ``end_s`` is the end of the last word), in stream seconds."""

    kind: TranscriptKind
    text: str = ""
    speech_final: bool = False
    start_s: float = 0.0
    end_s: float = 0.0


class SpeechStream(Protocol):
    """One open stream to a streaming engine (one call side).

    Failures (the connection refused or dropped, the engine's own errors) raise
    :class:`voxline.errors.ProviderError` from :meth:`send` or the event iterator.
    """

    async def send(self, pcm16_16k: bytes) -> None:
        """Send audio (16 kHz PCM16 mono), in order, as it is heard."""

    async def finalize(self) -> None:
        """Ask for the final transcript of everything sent so far, without closing."""

    async def close(self) -> None:
        """Say the audio is over, let the engine send what it still has, then close.
        Safe to call twice, and after a failure."""

    def events(self) -> AsyncIterator[TranscriptEvent]:
        """The engine's messages in order; the iteration ends when the stream closes."""


@runtime_checkable
class StreamingSpeechToText(Protocol):
    name: str

    async def open(self) -> SpeechStream:
        """A new stream; raises :class:`voxline.errors.ProviderError` if it cannot open."""


@dataclass(frozen=True, slots=True)
class EndOfTurn:
    """A turn the engine ended: its words, and when (stream seconds) they started and
    ended."""

    text: str
    start_s: float
    end_s: float


class TurnAssembler:
    """Finals joined into turns: a turn ends at a ``speech_final`` final or an utterance end.

    Interim results are ignored (a call answers settled words only); a turn without words
    (the engine heard a cough) is no turn.
    """

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._start_s: float | None = None
        self._end_s = 0.0

    @property
    def pending(self) -> str:
        """The settled words of the turn in progress."""
        return " ".join(self._texts)

    def feed(self, event: TranscriptEvent) -> EndOfTurn | None:
        if event.kind is TranscriptKind.FINAL:
            if text := " ".join(event.text.split()):
                self._texts.append(text)
                if self._start_s is None:
                    self._start_s = event.start_s
                self._end_s = max(self._end_s, event.end_s)
            if event.speech_final:
                return self._take()
        elif event.kind is TranscriptKind.UTTERANCE_END:
            return self._take()
        return None

    def flush(self) -> EndOfTurn | None:
        """The turn in progress, ended (the stream is closing), or None."""
        return self._take()

    def _take(self) -> EndOfTurn | None:
        if not self._texts:
            return None
        turn = EndOfTurn(self.pending, self._start_s or 0.0, self._end_s)
        self._texts.clear()
        self._start_s = None
        return turn


class BatchOverStream:
    """A streaming engine as a batch :class:`~voxline.voice.stt.base.SpeechToText`: one
    stream per utterance, its audio sent, finalized, closed, and every final joined."""

    def __init__(self, engine: StreamingSpeechToText) -> None:
        self.engine = engine

    async def transcribe(self, pcm16_16k: bytes) -> str:
        if not pcm16_16k:
            return ""
        stream = await self.engine.open()
        texts: list[str] = []

        async def collect() -> None:
            async for event in stream.events():
                if event.kind is TranscriptKind.FINAL and event.text.strip():
                    texts.append(event.text.strip())

        reader = asyncio.ensure_future(collect())
        try:
            for start in range(0, len(pcm16_16k), BATCH_CHUNK_BYTES):
                await stream.send(pcm16_16k[start : start + BATCH_CHUNK_BYTES])
            await stream.finalize()
            await stream.close()
            await reader
        finally:
            reader.cancel()
            await stream.close()
        return " ".join(" ".join(texts).split())
