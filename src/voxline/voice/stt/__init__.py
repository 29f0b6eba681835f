"""Speech-to-text engines and the factory that picks one from the settings."""

from __future__ import annotations

from voxline.config import Settings
from voxline.voice.stt.base import SpeechToText

__all__ = ["SpeechToText", "create_stt"]


def _secret(settings: Settings) -> str | None:
    key = settings.stt_api_key
    return key.get_secret_value() if key is not None else None


def create_stt(settings: Settings) -> SpeechToText:
    """The configured speech-to-text (``stt_engine``):

    - ``whisper`` (or ``local``): faster-whisper on this machine; the model loads lazily, on
      the first transcription, once per process;
    - ``openai``: an OpenAI-compatible ``/audio/transcriptions`` server (``stt_base_url``,
      ``stt_api_key``, ``stt_model``, ``stt_language``);
    - ``deepgram``: Deepgram's streaming ``/listen`` (a
      :class:`~voxline.voice.stt.stream.StreamingSpeechToText` too: the session then lets
      the engine end the contact's turns).
    """
    engine = settings.stt_engine
    if engine in ("whisper", "local"):
        from voxline.voice.stt.whisper import WhisperStt

        return WhisperStt()
    if engine == "openai":
        from voxline.voice.stt import openai

        return openai.OpenAIStt(
            settings.stt_base_url or openai.DEFAULT_BASE_URL,
            _secret(settings),
            model=settings.stt_model or openai.DEFAULT_MODEL,
            language=settings.stt_language,
        )
    if engine == "deepgram":
        from voxline.voice.stt.deepgram import DEFAULT_BASE_URL, DEFAULT_MODEL, DeepgramStt

        return DeepgramStt(
            settings.stt_base_url or DEFAULT_BASE_URL,
            _secret(settings),
            model=settings.stt_model or DEFAULT_MODEL,
            language=settings.stt_language,
            endpointing_ms=settings.stt_endpointing_ms,
            utterance_end_ms=settings.stt_utterance_end_ms,
        )
    raise ValueError(f"unknown stt_engine: {engine!r}")
