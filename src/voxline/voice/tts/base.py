"""The text-to-speech port: text in, 16 kHz PCM16 mono out."""

from __future__ import annotations

from typing import Protocol, TypeAlias

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
