"""Speech-to-text on an OpenAI-compatible server, against the audio emulator on loopback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.emulators.openai_audio import API_KEY, OpenAIAudioEmulator
from voxline.errors import ProviderError
from voxline.voice.stt.openai import OpenAIStt


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[OpenAIAudioEmulator]:
    emulator = OpenAIAudioEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def emulator(server: OpenAIAudioEmulator) -> OpenAIAudioEmulator:
    server.fail.clear()
    server.transcripts.clear()
    server.requests.clear()
    server.stall_seconds = 0.0
    return server


@pytest.fixture
async def stt(emulator: OpenAIAudioEmulator) -> AsyncIterator[OpenAIStt]:
    engine = OpenAIStt(emulator.base_url, API_KEY, language="en")
    yield engine
    await engine.aclose()


async def test_uploads_the_utterance_as_wav_and_returns_the_text(
    stt: OpenAIStt, emulator: OpenAIAudioEmulator, sentence_pcm: bytes
) -> None:
    emulator.transcripts.append("  I would like   to book a cleaning. ")
    assert await stt.transcribe(sentence_pcm) == "I would like to book a cleaning."
    (request,) = emulator.requests
    assert request.form == {"model": "whisper-1", "response_format": "json", "language": "en"}
    assert request.audio_seconds == pytest.approx(len(sentence_pcm) / 32000)


async def test_the_server_hears_the_sound_that_was_sent(
    stt: OpenAIStt, sentence_pcm: bytes
) -> None:
    # The emulator's own transcript measures the sound: silence sent instead would say 0.0.
    text = await stt.transcribe(sentence_pcm + bytes(32000))
    seconds = float(text.split()[1])
    assert 0.5 < seconds <= len(sentence_pcm) / 32000
    assert await stt.transcribe(bytes(32000)) == "heard 0.0 seconds"


async def test_a_blip_is_not_sent(stt: OpenAIStt, emulator: OpenAIAudioEmulator) -> None:
    assert await stt.transcribe(bytes(320)) == ""
    assert emulator.requests == []


async def test_a_wrong_key_is_final_and_never_shown(
    emulator: OpenAIAudioEmulator, sentence_pcm: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-wrong-secret-987654321"
    engine = OpenAIStt(emulator.base_url, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as raised:
        await engine.transcribe(sentence_pcm)
    await engine.aclose()
    assert raised.value.retryable is False
    assert raised.value.details["http_status"] == 401
    for text in (str(raised.value), repr(engine), caplog.text):
        assert secret not in text


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)])
async def test_server_errors_say_whether_to_retry(
    stt: OpenAIStt,
    emulator: OpenAIAudioEmulator,
    sentence_pcm: bytes,
    status: int,
    retryable: bool,
) -> None:
    emulator.fail.append(status)
    with pytest.raises(ProviderError) as raised:
        await stt.transcribe(sentence_pcm)
    assert raised.value.retryable is retryable
    assert raised.value.details["http_status"] == status


async def test_an_unknown_model_is_final(
    emulator: OpenAIAudioEmulator, sentence_pcm: bytes
) -> None:
    engine = OpenAIStt(emulator.base_url, API_KEY, model="no-such-model")
    with pytest.raises(ProviderError) as raised:
        await engine.transcribe(sentence_pcm)
    await engine.aclose()
    assert (raised.value.retryable, raised.value.details["http_status"]) == (False, 404)


async def test_a_timeout_is_retryable(emulator: OpenAIAudioEmulator, sentence_pcm: bytes) -> None:
    emulator.stall_seconds = 1.0
    engine = OpenAIStt(emulator.base_url, API_KEY, timeout=httpx.Timeout(0.05))
    with pytest.raises(ProviderError) as raised:
        await engine.transcribe(sentence_pcm)
    await engine.aclose()
    assert raised.value.retryable is True
    assert "in time" in str(raised.value)


async def test_an_unreachable_server_is_retryable(sentence_pcm: bytes) -> None:
    engine = OpenAIStt("http://127.0.0.1:9/v1", "sk-secret-in-url-check")
    with pytest.raises(ProviderError) as raised:
        await engine.transcribe(sentence_pcm)
    await engine.aclose()
    assert raised.value.retryable is True
    assert "sk-secret" not in str(raised.value)


async def test_the_emulator_refuses_what_openai_refuses(emulator: OpenAIAudioEmulator) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=emulator.base_url, headers=headers) as client:
        as_json = await client.post("/audio/transcriptions", json={"model": "whisper-1"})
        no_model = await client.post(
            "/audio/transcriptions", files={"file": ("a.wav", b"RIFF", "audio/wav")}
        )
        not_wav = await client.post(
            "/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("a.wav", b"not audio", "audio/wav")},
        )
    assert [as_json.status_code, no_model.status_code, not_wav.status_code] == [400, 400, 400]
    assert emulator.requests == []
