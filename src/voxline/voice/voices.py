"""The catalogue of voices the local text-to-speech engines offer.

Every deployment has these voices without any account or download: a few English voices of
espeak-ng (formant synthesis, no model) and the Piper ``en_US-joe-medium`` neural voice. They
are ``reference`` voices, visible to every organization. An agent's ``voice_id`` names one of
them; ``engine_voice`` is what the engine itself calls the voice (an espeak-ng voice name or a
Piper model name), which the TTS adapters use to select it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from voxline.errors import NotFound


class VoiceProvider(StrEnum):
    ESPEAK_NG = "espeak-ng"
    PIPER = "piper"


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
)

_BY_ID = {voice.id: voice for voice in VOICES}


def list_voices() -> tuple[Voice, ...]:
    """Every voice in the catalogue, in a stable order (the recommended voice first)."""
    return VOICES


def find_voice(voice_id: str) -> Voice | None:
    return _BY_ID.get(voice_id)


def get_voice(voice_id: str) -> Voice:
    """The voice with this id; :class:`NotFound` when the catalogue has none."""
    voice = _BY_ID.get(voice_id)
    if voice is None:
        raise NotFound.resource("Voice", voice_id)
    return voice
