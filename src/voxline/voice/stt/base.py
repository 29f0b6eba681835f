"""The speech-to-text port: one utterance of 16 kHz PCM16 mono in, its text out."""

from __future__ import annotations

from typing import Protocol


class SpeechToText(Protocol):
    async def transcribe(self, pcm16_16k: bytes) -> str:
        """The words spoken in one utterance, stripped; ``""`` if none were heard.

        Engine failures raise :class:`voxline.errors.ProviderError`.
        """
