"""Text-to-speech engines and the factory that picks them from the settings.

``create_tts(settings)`` gives the deployment's :class:`TextToSpeech`: Piper when the
``piper`` extra is installed and ``tts_engine`` is ``auto`` or ``piper``, espeak-ng otherwise.
When both engines are available it returns a :class:`RoutedTts` that speaks each catalogue
voice with its own engine (Piper's voice first, as the default), so whatever an agent's
``voice_id`` names, it is heard in that voice.

``tts_engine`` ``openai`` or ``cartesia`` puts a remote engine first, speaking with its
configured voice (``tts_voice``): agents without a ``voice_id`` are heard in it, and the local
engines stay behind it for the catalogue voices agents may still pick (and for the sandbox's
simulated callees), so a listed voice is still a voice that speaks.
"""

from __future__ import annotations

from collections.abc import Sequence

from voxline.config import Settings
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.voice.tts.base import SpokenText, TextToSpeech, TimedTextToSpeech, VoiceInfo
from voxline.voice.voices import VoiceProvider, installed_providers, offered_providers

__all__ = [
    "RoutedTts",
    "SpokenText",
    "TextToSpeech",
    "TimedTextToSpeech",
    "VoiceInfo",
    "create_tts",
    "engine_for",
]

log = get_logger(__name__)


class RoutedTts:
    """Several engines behind one :class:`TextToSpeech`: the voice picks the engine.

    A voice no engine knows falls back to the default voice (the first engine's default)
    and is logged, because a call must not fail over the choice of voice.
    """

    def __init__(self, engines: Sequence[TextToSpeech]) -> None:
        if not engines:
            raise ValueError("RoutedTts needs at least one engine")
        self.engines = tuple(engines)
        self.name = "+".join(engine.name for engine in self.engines)

    def voices(self) -> list[VoiceInfo]:
        return [voice for engine in self.engines for voice in engine.voices()]

    def engine_of(self, voice: str | None) -> tuple[TextToSpeech, str | None]:
        """The engine that speaks ``voice`` and the voice to ask it for."""
        if voice is not None:
            for engine in self.engines:
                if any(voice in (v.id, v.engine_voice) for v in engine.voices()):
                    return engine, voice
            log.warning("unknown voice, using the default", extra={"voice": voice})
        return self.engines[0], None

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        engine, engine_voice = self.engine_of(voice)
        return await engine.synthesize(text, engine_voice)

    async def synthesize_timed(self, text: str, voice: str | None = None) -> SpokenText:
        """The voice's engine's timed synthesis; untimed speech when it has none."""
        engine, engine_voice = self.engine_of(voice)
        if isinstance(engine, TimedTextToSpeech):
            return await engine.synthesize_timed(text, engine_voice)
        return SpokenText(await engine.synthesize(text, engine_voice))


def engine_for(provider: VoiceProvider) -> TextToSpeech:
    """A new engine of one provider (models load lazily, on first use)."""
    if provider is VoiceProvider.PIPER:
        from voxline.voice.tts.piper import PiperTts

        return PiperTts()
    from voxline.voice.tts.espeak import EspeakTts

    return EspeakTts()


def remote_engine(settings: Settings) -> TextToSpeech | None:
    """The remote engine ``tts_engine`` names, or None for a local one."""
    key = settings.tts_api_key.get_secret_value() if settings.tts_api_key is not None else None
    if settings.tts_engine == "openai":
        from voxline.voice.tts import openai

        return openai.OpenAITts(
            settings.tts_base_url or openai.DEFAULT_BASE_URL,
            key,
            model=settings.tts_model or openai.DEFAULT_MODEL,
            voice=settings.tts_voice or openai.DEFAULT_VOICE,
        )
    if settings.tts_engine == "cartesia":
        from voxline.voice.tts.cartesia import (
            DEFAULT_BASE_URL,
            DEFAULT_MODEL,
            DEFAULT_VOICE,
            CartesiaTts,
        )

        return CartesiaTts(
            settings.tts_base_url or DEFAULT_BASE_URL,
            key,
            model=settings.tts_model or DEFAULT_MODEL,
            voice=settings.tts_voice or DEFAULT_VOICE,
        )
    return None


def create_tts(settings: Settings) -> TextToSpeech:
    """The configured text-to-speech (see the module docstring).

    Raises :class:`ProviderError` when ``tts_engine`` is ``piper`` without the extra, or
    when no engine at all is installed.
    """
    remote = remote_engine(settings)
    if remote is not None:
        local = [engine_for(provider) for provider in offered_providers(settings.tts_engine)]
        return RoutedTts([remote, *local]) if local else remote
    if settings.tts_engine == "piper" and VoiceProvider.PIPER not in installed_providers():
        raise ProviderError(
            "VOXLINE_TTS_ENGINE=piper but the 'piper' extra is not installed",
            provider="piper",
            retryable=False,
        )
    engines = [engine_for(provider) for provider in offered_providers(settings.tts_engine)]
    if not engines:
        raise ProviderError(
            "no text-to-speech engine: install espeak-ng or the 'piper' extra",
            provider="tts",
            retryable=False,
        )
    return engines[0] if len(engines) == 1 else RoutedTts(engines)
