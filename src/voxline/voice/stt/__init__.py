"""Speech-to-text engines and the factory that picks one from the settings."""

from __future__ import annotations

from voxline.config import Settings
from voxline.voice.stt.base import SpeechToText

__all__ = ["SpeechToText", "create_stt"]


def create_stt(settings: Settings) -> SpeechToText:
    """The configured speech-to-text (``stt_engine``; today only ``whisper``).

    The model loads lazily, on the first transcription, once per process.
    """
    if settings.stt_engine != "whisper":
        raise ValueError(f"unknown stt_engine: {settings.stt_engine!r}")
    from voxline.voice.stt.whisper import WhisperStt

    return WhisperStt()
