"""Text-to-speech on an OpenAI-compatible server, against the audio emulator on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.emulators.openai_audio import API_KEY, OpenAIAudioEmulator
from voxline.errors import ProviderError
from voxline.voice.audio import rms_dbfs
from voxline.voice.tts.openai import OpenAITts

TEXT = "Your appointment is on Tuesday at ten in the morning."


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[OpenAIAudioEmulator]:
    emulator = OpenAIAudioEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def emulator(server: OpenAIAudioEmulator) -> OpenAIAudioEmulator:
    server.fail.clear()
    server.requests.clear()
    server.stall_seconds = 0.0
    server.gate = None
    return server


@pytest.fixture
async def tts(emulator: OpenAIAudioEmulator) -> AsyncIterator[OpenAITts]:
    engine = OpenAITts(emulator.base_url, API_KEY, voice="nova")
    yield engine
    await engine.aclose()


@pytest.mark.parametrize("response_format", ["pcm", "wav"])
async def test_speech_comes_back_as_16_khz_pcm(
    emulator: OpenAIAudioEmulator, response_format: str
) -> None:
    engine = OpenAITts(emulator.base_url, API_KEY, response_format=response_format)
    pcm = await engine.synthesize(TEXT)
    await engine.aclose()
    seconds = len(pcm) / 32000
    # espeak-ng says this sentence in about 3 s; at the wrong rate it would be 2 s or 4.5 s.
    assert 2.4 < seconds < 4.0
    assert len(pcm) % 2 == 0
    assert rms_dbfs(pcm) > -40
    assert emulator.requests[0].form["response_format"] == response_format


async def test_the_configured_voice_is_sent_for_catalogue_voices(
    tts: OpenAITts, emulator: OpenAIAudioEmulator
) -> None:
    await tts.synthesize("Hello.", "espeak-en-gb")
    await tts.synthesize("Hello.", "shimmer")
    assert [r.form["voice"] for r in emulator.requests] == ["nova", "shimmer"]
    assert [v.engine_voice for v in tts.voices()] == ["nova"]


async def test_empty_text_is_no_request(tts: OpenAITts, emulator: OpenAIAudioEmulator) -> None:
    assert await tts.synthesize("  ") == b""
    assert emulator.requests == []


async def test_the_first_chunk_arrives_before_the_rest_is_sent(
    tts: OpenAITts, emulator: OpenAIAudioEmulator
) -> None:
    emulator.gate = asyncio.Event()
    chunks = tts.stream(TEXT)
    first = await asyncio.wait_for(anext(chunks), 5)
    assert 0 < len(first) < 32000  # one 100 ms piece, not the 3 s sentence
    emulator.gate.set()
    rest = [chunk async for chunk in chunks]
    assert len(first) + sum(map(len, rest)) > 2.4 * 32000


async def test_a_wrong_key_is_final_and_never_shown(
    emulator: OpenAIAudioEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-wrong-secret-tts-55555"
    engine = OpenAITts(emulator.base_url, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as raised:
        await engine.synthesize(TEXT)
    await engine.aclose()
    assert (raised.value.retryable, raised.value.details["http_status"]) == (False, 401)
    for text in (str(raised.value), repr(engine), caplog.text):
        assert secret not in text


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (400, False)])
async def test_server_errors_say_whether_to_retry(
    tts: OpenAITts, emulator: OpenAIAudioEmulator, status: int, retryable: bool
) -> None:
    emulator.fail.append(status)
    with pytest.raises(ProviderError) as raised:
        await tts.synthesize(TEXT)
    assert raised.value.retryable is retryable


async def test_a_stalled_server_is_retryable(emulator: OpenAIAudioEmulator) -> None:
    emulator.stall_seconds = 1.0
    engine = OpenAITts(emulator.base_url, API_KEY, timeout=httpx.Timeout(0.05))
    with pytest.raises(ProviderError) as raised:
        await engine.synthesize(TEXT)
    await engine.aclose()
    assert raised.value.retryable is True


async def test_a_body_cut_mid_stream_is_retryable(emulator: OpenAIAudioEmulator) -> None:
    # The emulator holds the body after its first chunk; the read times out mid-stream.
    emulator.gate = asyncio.Event()
    engine = OpenAITts(emulator.base_url, API_KEY, timeout=httpx.Timeout(5, read=0.1))
    got: list[bytes] = []
    with pytest.raises(ProviderError) as raised:
        async for chunk in engine.stream(TEXT):
            got.append(chunk)
    emulator.gate.set()
    await engine.aclose()
    assert got and raised.value.retryable is True


async def test_a_server_answering_json_is_an_error(emulator: OpenAIAudioEmulator) -> None:
    # A model that is not a speech model: the emulator answers 404 JSON, never audio.
    engine = OpenAITts(emulator.base_url, API_KEY, model="gpt-4o")
    with pytest.raises(ProviderError) as raised:
        await engine.synthesize(TEXT)
    await engine.aclose()
    assert (raised.value.retryable, raised.value.details["http_status"]) == (False, 404)
