"""Speech fakes: a tone for speech, a VAD that hears it, and a speech-to-text that knows
what was said. No model is loaded and nothing runs on the model pool."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from voxline.errors import ProviderError
from voxline.voice.audio import float32_to_pcm16, rms_dbfs
from voxline.voice.frames import FRAME_MS, SAMPLE_RATE
from voxline.voice.stt.stream import TranscriptEvent, TranscriptKind
from voxline.voice.tts.base import VoiceInfo
from voxline.voice.vad import Endpointer, EnergyVad, StreamingVad

MS_PER_WORD = 250


def speaking_ms(text: str) -> int:
    """How long ``text`` takes to say: 250 ms a word, 250 ms at least."""
    return MS_PER_WORD * max(1, len(text.split()))


def tone(ms: int, *, frequency: float = 220.0) -> bytes:
    """A steady tone of ``ms`` milliseconds (16 kHz PCM16): the fakes' speech."""
    t = np.arange(SAMPLE_RATE * ms // 1000) / SAMPLE_RATE
    return float32_to_pcm16(0.3 * np.sin(2 * np.pi * frequency * t))


def fake_vad(*, hangover_ms: int = 192) -> StreamingVad:
    """An energy VAD with a short hang-over: it hears the fakes' tones, not silence."""
    return StreamingVad(EnergyVad(), Endpointer(min_speech_ms=64, hangover_ms=hangover_ms))


def _failure(provider: str) -> ProviderError:
    return ProviderError(f"{provider} is down", provider=provider, retryable=True)


@dataclass
class FakeTts:
    """Text to speech as a tone as long as the text takes to say.

    The first ``works`` syntheses succeed (all of them when None); later ones raise
    :class:`ProviderError`, as a vendor outage would.
    """

    works: int | None = None
    name: str = "fake"
    synthesized: list[str] = field(default_factory=list)

    def voices(self) -> list[VoiceInfo]:
        return []

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        if self.works is not None and len(self.synthesized) >= self.works:
            raise _failure("fake-tts")
        self.synthesized.append(text)
        return tone(speaking_ms(text)) if text.strip() else b""


@dataclass
class FakeStt:
    """Speech to text that hears, in order, what the contact of a :class:`FakeLine` said.

    A transcription returns the next line said; until the contact says another line, more
    transcriptions (of the same utterance: barge-in judges speech while it goes on, then the
    turn is transcribed whole) return that line again. ``failures`` transcriptions fail
    first (each raising :class:`ProviderError`).
    """

    failures: int = 0
    said: deque[str] = field(default_factory=deque)
    calls: int = 0
    _lines_heard: int = 0
    _last: tuple[int, str] | None = None

    def hear(self, text: str) -> None:
        """The contact said ``text``: the next transcription returns it."""
        self.said.append(text)
        self._lines_heard += 1

    async def transcribe(self, pcm16_16k: bytes) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise _failure("fake-stt")
        if self._last is not None and self._last[0] == self._lines_heard and not self.said:
            return self._last[1]
        text = self.said.popleft() if self.said else ""
        self._last = (self._lines_heard, text)
        return text


@dataclass
class FakeStreamingStt(FakeStt):
    """A streaming speech-to-text (:class:`~voxline.voice.stt.stream.StreamingSpeechToText`)
    that hears the fakes' tones frame by frame and ends a turn ``endpointing_ms`` after a
    tone stops, with what the contact said (a ``speech_final`` final). Closing a stream
    settles a turn in progress. The first ``failures`` opens fail, as a vendor outage would;
    ``drop_after_frames`` makes each stream drop after that many frames.
    """

    endpointing_ms: int = 300
    drop_after_frames: int | None = None
    name: str = "fake-streaming"
    opened: int = 0

    async def open(self) -> FakeSpeechStream:
        self.opened += 1
        if self.opened <= self.failures:
            raise _failure("fake-stt")
        return FakeSpeechStream(self)


class FakeSpeechStream:
    """One stream of a :class:`FakeStreamingStt`; positions count 20 ms per frame sent."""

    def __init__(self, engine: FakeStreamingStt) -> None:
        self.engine = engine
        self._events: asyncio.Queue[TranscriptEvent | ProviderError | None] = asyncio.Queue()
        self._frames = 0
        self._speech_from: float | None = None
        self._last_loud = 0.0
        self._closed = False

    async def send(self, pcm16_16k: bytes) -> None:
        if self._closed:
            raise _failure("fake-stt")
        self._frames += 1
        drop = self.engine.drop_after_frames
        if drop is not None and self._frames >= drop:
            self._closed = True
            self._events.put_nowait(_failure("fake-stt"))
            return
        now = self._frames * FRAME_MS / 1000
        if rms_dbfs(pcm16_16k) > -40:
            if self._speech_from is None:
                self._speech_from = now - FRAME_MS / 1000
            self._last_loud = now
        elif (
            self._speech_from is not None
            and (now - self._last_loud) * 1000 >= self.engine.endpointing_ms
        ):
            self._settle(speech_final=True)

    def _settle(self, *, speech_final: bool) -> None:
        if self._speech_from is None:
            return
        text = self.engine.said.popleft() if self.engine.said else ""
        self._events.put_nowait(
            TranscriptEvent(
                TranscriptKind.FINAL, text, speech_final, self._speech_from, self._last_loud
            )
        )
        self._speech_from = None

    async def finalize(self) -> None:
        self._settle(speech_final=False)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._settle(speech_final=False)
            self._events.put_nowait(None)

    async def events(self) -> AsyncIterator[TranscriptEvent]:
        while (event := await self._events.get()) is not None:
            if isinstance(event, ProviderError):
                raise event
            yield event


@dataclass
class MemoryTranscript:
    """A transcript sink that keeps (speaker, text, timestamp) turns in memory."""

    turns: list[tuple[str, str, float]] = field(default_factory=list)

    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        self.turns.append((speaker, text, timestamp))

    def said_by(self, speaker: str) -> list[str]:
        return [text for who, text, _ in self.turns if who == speaker]
