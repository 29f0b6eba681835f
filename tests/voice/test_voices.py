"""The catalogue of local TTS voices."""

from __future__ import annotations

import pytest

from voxline.config import Settings
from voxline.errors import NotFound
from voxline.voice.voices import (
    VoiceProvider,
    find_voice,
    get_voice,
    list_voices,
    offered_providers,
)

BOTH = frozenset({VoiceProvider.PIPER, VoiceProvider.ESPEAK_NG})


def test_catalogue_offers_piper_and_espeak_english_voices() -> None:
    voices = list_voices()

    assert {v.provider for v in voices} == {VoiceProvider.PIPER, VoiceProvider.ESPEAK_NG}
    assert all(v.language.startswith("en") for v in voices)
    assert len({v.id for v in voices}) == len(voices)
    assert get_voice("piper-en-us-joe").engine_voice == "en_US-joe-medium"
    assert find_voice("espeak-en-us") == get_voice("espeak-en-us")
    assert get_voice("espeak-en-us").engine_voice == "en-us"


def test_unknown_voice_is_not_found() -> None:
    assert find_voice("elevenlabs-rachel") is None
    with pytest.raises(NotFound):
        get_voice("elevenlabs-rachel")


def test_piper_is_preferred_unless_espeak_is_configured() -> None:
    assert offered_providers("auto", BOTH) == (VoiceProvider.PIPER, VoiceProvider.ESPEAK_NG)
    assert offered_providers("piper", BOTH) == (VoiceProvider.PIPER, VoiceProvider.ESPEAK_NG)
    assert offered_providers("espeak", BOTH) == (VoiceProvider.ESPEAK_NG,)


def test_only_installed_engines_are_offered() -> None:
    espeak_only = frozenset({VoiceProvider.ESPEAK_NG})

    assert offered_providers("auto", espeak_only) == (VoiceProvider.ESPEAK_NG,)
    assert offered_providers("auto", frozenset()) == ()


def test_catalogue_follows_the_configured_engine() -> None:
    espeak = Settings(tts_engine="espeak")

    assert {v.provider for v in list_voices(espeak)} == {VoiceProvider.ESPEAK_NG}
    assert list_voices()[0].id == "piper-en-us-joe"
    assert find_voice("piper-en-us-joe", espeak) is None
    with pytest.raises(NotFound):
        get_voice("piper-en-us-joe", espeak)
    assert get_voice("espeak-en-us-f3", espeak).engine_voice == "en-us+f3"
