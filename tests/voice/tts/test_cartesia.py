"""Streaming text-to-speech on Cartesia's WebSocket, against its emulator on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from tests.emulators.cartesia import API_KEY, CartesiaEmulator
from voxline.errors import ProviderError
from voxline.voice.audio import rms_dbfs
from voxline.voice.tts.cartesia import CartesiaTts, parse_message

TEXT = "Your appointment is on Tuesday at ten in the morning."


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[CartesiaEmulator]:
    emulator = CartesiaEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def emulator(server: CartesiaEmulator) -> CartesiaEmulator:
    server.fail.clear()
    server.errors.clear()
    server.requests.clear()
    server.cancelled.clear()
    server.drop_after_chunks = None
    server.gate = None
    server.sockets = 0
    return server


@pytest.fixture
async def tts(emulator: CartesiaEmulator) -> AsyncIterator[CartesiaTts]:
    engine = CartesiaTts(emulator.base_url, API_KEY, voice="voice-ava")
    yield engine
    await engine.aclose()


async def test_speech_comes_back_as_16_khz_pcm(
    tts: CartesiaTts, emulator: CartesiaEmulator
) -> None:
    pcm = await tts.synthesize(TEXT)
    # espeak-ng says this sentence in about 3 s; at the wrong rate it would not.
    assert 2.4 < len(pcm) / 32000 < 4.0 and len(pcm) % 2 == 0
    assert rms_dbfs(pcm) > -40
    (request,) = emulator.requests
    assert request["output_format"] == {
        "container": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
    }
    assert request["voice"] == {"mode": "id", "id": "voice-ava"}
    assert request["continue"] is False and request["transcript"] == TEXT


async def test_one_socket_carries_every_clause_even_at_once(
    tts: CartesiaTts, emulator: CartesiaEmulator
) -> None:
    first, second = await asyncio.gather(tts.synthesize("Good morning."), tts.synthesize(TEXT))
    third = await tts.synthesize("Goodbye.")
    assert emulator.sockets == 1
    assert len(first) < len(second) and len(third) > 0  # each context got its own audio
    assert len({r["context_id"] for r in emulator.requests}) == 3


async def test_the_first_chunk_arrives_before_the_rest_exists(
    tts: CartesiaTts, emulator: CartesiaEmulator
) -> None:
    emulator.gate = asyncio.Event()
    chunks = tts.stream(TEXT)
    first = await asyncio.wait_for(anext(chunks), 5)
    assert 0 < len(first) <= 3200  # one 100 ms chunk of the 3 s sentence
    emulator.gate.set()
    assert len(first) + sum([len(c) async for c in chunks]) > 2.4 * 32000


async def test_a_barge_in_cancels_the_context_and_keeps_the_socket(
    tts: CartesiaTts, emulator: CartesiaEmulator
) -> None:
    emulator.gate = asyncio.Event()
    chunks = tts.stream(TEXT)
    await anext(chunks)
    await chunks.aclose()  # the contact talked over the agent
    emulator.gate.set()
    assert await tts.synthesize("Sorry, go ahead.")  # the same socket goes on
    assert emulator.cancelled == [emulator.requests[0]["context_id"]]
    assert emulator.sockets == 1


async def test_a_wrong_key_is_final_and_never_shown(
    emulator: CartesiaEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk_car_wrong_secret_31337"
    engine = CartesiaTts(emulator.base_url, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as raised:
        await engine.synthesize(TEXT)
    assert (raised.value.retryable, raised.value.details["http_status"]) == (False, 401)
    for text in (str(raised.value), repr(engine), caplog.text):
        assert secret not in text


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (403, False)])
async def test_refused_handshakes_say_whether_to_retry(
    tts: CartesiaTts, emulator: CartesiaEmulator, status: int, retryable: bool
) -> None:
    emulator.fail.append(status)
    with pytest.raises(ProviderError) as raised:
        await tts.synthesize(TEXT)
    assert (raised.value.retryable, raised.value.details["http_status"]) == (retryable, status)


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)])
async def test_error_messages_say_whether_to_retry(
    tts: CartesiaTts, emulator: CartesiaEmulator, status: int, retryable: bool
) -> None:
    emulator.errors.append(status)
    with pytest.raises(ProviderError) as raised:
        await tts.synthesize(TEXT)
    assert raised.value.retryable is retryable
    assert await tts.synthesize("Still here.")  # an error ends its context, not the socket


async def test_an_unknown_model_is_final(emulator: CartesiaEmulator) -> None:
    engine = CartesiaTts(emulator.base_url, API_KEY, model="no-such-model")
    with pytest.raises(ProviderError) as raised:
        await engine.synthesize(TEXT)
    await engine.aclose()
    assert (raised.value.retryable, raised.value.details["http_status"]) == (False, 400)


async def test_a_socket_dropped_mid_clause_is_retryable_and_reopened(
    tts: CartesiaTts, emulator: CartesiaEmulator
) -> None:
    emulator.drop_after_chunks = 3
    got: list[bytes] = []
    with pytest.raises(ProviderError) as raised:
        async for chunk in tts.stream(TEXT):
            got.append(chunk)
    assert len(got) == 3 and raised.value.retryable is True
    emulator.drop_after_chunks = None
    assert await tts.synthesize("Hello again.")
    assert emulator.sockets == 2


async def test_a_stalled_clause_times_out_retryably(emulator: CartesiaEmulator) -> None:
    emulator.gate = asyncio.Event()
    engine = CartesiaTts(emulator.base_url, API_KEY, chunk_timeout_seconds=0.1)
    with pytest.raises(ProviderError) as raised:
        await engine.synthesize(TEXT)
    emulator.gate.set()
    await engine.aclose()
    assert raised.value.retryable is True and "in time" in str(raised.value)


def test_messages_parse_as_the_documented_shapes() -> None:
    assert parse_message('{"type": "chunk", "data": "AAE=", "context_id": "c1"}') == (
        "c1",
        b"\x00\x01",
    )
    assert parse_message('{"type": "done", "context_id": "c1"}') == ("c1", None)
    assert parse_message('{"type": "timestamps", "context_id": "c1"}') is None
    with pytest.raises(ProviderError):
        parse_message("[1, 2]")
