"""The speech-to-text port: one utterance of 16 kHz PCM16 mono in, its text out.

An engine that can also say where each word lies in the audio implements
:class:`TimedSpeechToText`: the end-of-turn gate uses those timings to tell the words said
from words the engine guessed after a cut (``voxline.domain.turn_taking.heard_words``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from voxline.domain.turn_taking import TimedWord


class SpeechToText(Protocol):
    async def transcribe(self, pcm16_16k: bytes) -> str:
        """The words spoken in one utterance, stripped; ``""`` if none were heard.

        Engine failures raise :class:`voxline.errors.ProviderError`.
        """


@dataclass(frozen=True, slots=True)
class Transcript:
    """An utterance's text and, when the engine timed them, its words (else empty)."""

    text: str
    words: tuple[TimedWord, ...] = ()


@runtime_checkable
class TimedSpeechToText(Protocol):
    async def transcribe_timed(self, pcm16_16k: bytes) -> Transcript:
        """As :meth:`SpeechToText.transcribe`, with each word's place in the audio."""
