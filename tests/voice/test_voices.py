"""The catalogue of local TTS voices."""

from __future__ import annotations

import pytest

from voxline.errors import NotFound
from voxline.voice.voices import VoiceProvider, find_voice, get_voice, list_voices


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
