"""The text-to-speech port: text in, 16 kHz PCM16 mono out.

An engine that can also say where each word lies in its audio implements
:class:`TimedTextToSpeech`: the sandbox's callees use it to pause exactly between two words of
a line (``telephony/sandbox/callee_audio.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeAlias, runtime_checkable

from voxline.voice.voices import Voice

VoiceInfo: TypeAlias = Voice
"""What an engine tells about one of its voices: its catalogue entry."""


class TextToSpeech(Protocol):
    name: str

    def voices(self) -> list[VoiceInfo]:
        """The voices this engine speaks with, its default first."""

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        """``text`` spoken as PCM16 mono at 16 kHz.

        ``voice`` is a catalogue voice id (``espeak-en-gb``) or the engine's own voice name
        (``en-gb``); ``None`` is the engine's default voice. Empty text gives empty audio.
        Engine failures raise :class:`voxline.errors.ProviderError`.
        """


@dataclass(frozen=True, slots=True)
class SpokenText:
    """Synthesized speech and, when the engine timed them, where each word lies in it: one
    (start, end) pair of byte offsets into ``pcm`` per word of the text, in order (else
    empty)."""

    pcm: bytes
    word_spans: tuple[tuple[int, int], ...] = ()


@runtime_checkable
class TimedTextToSpeech(Protocol):
    async def synthesize_timed(self, text: str, voice: str | None = None) -> SpokenText:
        """As :meth:`TextToSpeech.synthesize`, with each word's place in the audio."""
