"""espeak-ng text-to-speech: 16 kHz audio, several voices, clean failures."""

from __future__ import annotations

import asyncio
import struct

import pytest

from voxline.errors import ProviderError
from voxline.voice.audio import rms_dbfs
from voxline.voice.frames import duration_of
from voxline.voice.tts.espeak import EspeakTts, parse_wav
from voxline.voice.voices import VoiceProvider

TEXT = "Your appointment is confirmed for Tuesday at three."


async def test_speech_is_audible_16_khz_audio_of_plausible_length(espeak: EspeakTts) -> None:
    pcm = await espeak.synthesize(TEXT)

    # 8 words at 165 words per minute: about three seconds.
    assert 1.5 < duration_of(pcm) < 6
    assert rms_dbfs(pcm) > -30


async def test_voices_sound_different(espeak: EspeakTts) -> None:
    us, gb, female = await asyncio.gather(
        espeak.synthesize(TEXT, "espeak-en-us"),
        espeak.synthesize(TEXT, "en-gb"),
        espeak.synthesize(TEXT, "en-us+f3"),
    )

    assert len({us, gb, female}) == 3
    assert us == await espeak.synthesize(TEXT)  # en-us is the default, and it is deterministic


async def test_speaking_rate_changes_the_duration() -> None:
    slow = await EspeakTts(words_per_minute=120).synthesize(TEXT)
    fast = await EspeakTts(words_per_minute=240).synthesize(TEXT)

    assert duration_of(slow) > 1.5 * duration_of(fast)


def test_lists_its_catalogue_voices_default_first() -> None:
    voices = EspeakTts(default_voice="en-gb").voices()

    assert voices[0].engine_voice == "en-gb"
    assert {voice.provider for voice in voices} == {VoiceProvider.ESPEAK_NG}
    assert {"en-us", "en-us+f3"} <= {voice.engine_voice for voice in voices}


async def test_empty_text_is_empty_audio(espeak: EspeakTts) -> None:
    assert await espeak.synthesize("  ") == b""


async def test_option_like_voice_names_are_refused(espeak: EspeakTts) -> None:
    with pytest.raises(ValueError):
        await espeak.synthesize(TEXT, "--version")


async def test_a_voice_espeak_does_not_have_is_a_provider_error(espeak: EspeakTts) -> None:
    with pytest.raises(ProviderError) as caught:
        await espeak.synthesize(TEXT, "zz")

    assert caught.value.provider == "espeak-ng"
    assert caught.value.retryable is False


async def test_a_missing_program_is_a_provider_error() -> None:
    with pytest.raises(ProviderError):
        await EspeakTts(binary="/nonexistent/espeak-ng").synthesize(TEXT)


def test_wav_from_a_pipe_ignores_the_placeholder_sizes() -> None:
    fmt = struct.pack("<HHIIHH", 1, 1, 22050, 44100, 2, 16)
    header = b"RIFF" + struct.pack("<I", 0x7FFFF000) + b"WAVE"
    header += b"fmt " + struct.pack("<I", 16) + fmt
    data = b"data" + struct.pack("<I", 0x7FFFF000) + b"\x01\x00\x02\x00\x03"

    assert parse_wav(header + data) == (b"\x01\x00\x02\x00", 22050)
    with pytest.raises(ValueError):
        parse_wav(b"not a wav file")
