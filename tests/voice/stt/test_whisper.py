"""Offline speech-to-text: Whisper tiny.en from its PyPI package, on espeak-ng speech."""

from __future__ import annotations

import asyncio

import pytest

from tests.voice.conftest import SENTENCE, word_error_rate
from voxline.config import Settings
from voxline.voice.audio import mulaw_to_pcm16, pcm16_to_mulaw, resample
from voxline.voice.frames import silence
from voxline.voice.stt import create_stt
from voxline.voice.stt.whisper import WhisperStt, load_model, model_dir


@pytest.fixture(scope="session")
async def whisper() -> WhisperStt:
    stt = WhisperStt()
    await stt.warm()
    return stt


def test_model_comes_from_the_installed_package_not_a_hub() -> None:
    directory = model_dir()

    assert "site-packages" in str(directory)
    assert (directory / "model.bin").stat().st_size > 50_000_000


async def test_transcribes_a_spoken_sentence(whisper: WhisperStt, sentence_pcm: bytes) -> None:
    text = await whisper.transcribe(sentence_pcm)

    assert word_error_rate(SENTENCE, text) <= 0.35


async def test_transcribes_speech_that_went_through_the_phone_line(
    whisper: WhisperStt, sentence_pcm: bytes
) -> None:
    phone = mulaw_to_pcm16(pcm16_to_mulaw(resample(sentence_pcm, 16000, 8000)))

    text = await whisper.transcribe(resample(phone, 8000, 16000))

    assert word_error_rate(SENTENCE, text) <= 0.35


async def test_nothing_to_transcribe_gives_empty_text(whisper: WhisperStt) -> None:
    assert await whisper.transcribe(b"") == ""
    assert await whisper.transcribe(silence(50)) == ""


async def test_concurrent_transcriptions_share_one_model(
    whisper: WhisperStt, sentence_pcm: bytes
) -> None:
    first, second = await asyncio.gather(
        whisper.transcribe(sentence_pcm), WhisperStt().transcribe(sentence_pcm)
    )

    assert first == second
    assert load_model() is load_model()


async def test_the_event_loop_keeps_running_while_transcribing(
    whisper: WhisperStt, sentence_pcm: bytes
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await whisper.transcribe(sentence_pcm)
    ticker.cancel()

    assert ticks >= 10  # a transcription takes ~0.4 s; the loop was free meanwhile


def test_factory_builds_whisper_and_refuses_unknown_engines() -> None:
    assert isinstance(create_stt(Settings()), WhisperStt)
    with pytest.raises(ValueError):
        create_stt(Settings().model_copy(update={"stt_engine": "vosk"}))
