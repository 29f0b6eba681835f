"""Deepgram live transcription, against the /listen WebSocket emulator on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.emulators.deepgram import API_KEY, DeepgramEmulator
from voxline.errors import ProviderError
from voxline.voice.stt.deepgram import DeepgramStream, DeepgramStt, parse_message
from voxline.voice.stt.stream import TranscriptEvent, TranscriptKind

FRAME = 640
SECOND_OF_SILENCE = bytes(32000)


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[DeepgramEmulator]:
    emulator = DeepgramEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def emulator(server: DeepgramEmulator) -> DeepgramEmulator:
    server.fail.clear()
    server.transcripts.clear()
    server.connections.clear()
    server.speech_finals.clear()
    server.drop_after_seconds = None
    server.drop_streams = 1_000_000
    server.stall_seconds = 0.0
    return server


@pytest.fixture
def stt(emulator: DeepgramEmulator) -> DeepgramStt:
    return DeepgramStt(emulator.base_url, API_KEY, language="en")


async def send_frames(stream: DeepgramStream, pcm: bytes) -> None:
    for start in range(0, len(pcm), FRAME):
        await stream.send(pcm[start : start + FRAME])


async def collect(stream: DeepgramStream, into: list[TranscriptEvent]) -> None:
    async for event in stream.events():
        into.append(event)


async def test_a_turn_streams_as_speech_started_interims_and_a_speech_final(
    stt: DeepgramStt, emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    emulator.transcripts.append("I would like to book a cleaning.")
    stream = await stt.open()
    events: list[TranscriptEvent] = []
    reader = asyncio.create_task(collect(stream, events))
    await send_frames(stream, sentence_pcm + SECOND_OF_SILENCE + bytes(12800))
    await stream.close()
    await reader
    kinds = [e.kind for e in events]
    assert kinds[0] is TranscriptKind.SPEECH_STARTED
    assert TranscriptKind.INTERIM in kinds
    finals = [e for e in events if e.kind is TranscriptKind.FINAL]
    assert [(f.text, f.speech_final) for f in finals] == [
        ("I would like to book a cleaning.", True)
    ]
    assert kinds.index(TranscriptKind.UTTERANCE_END) > kinds.index(TranscriptKind.FINAL)
    # The words are placed in the stream's audio: inside the sentence, not the silence.
    assert 0 <= finals[0].start_s < finals[0].end_s <= len(sentence_pcm) / 32000 + 0.05
    (connection,) = emulator.connections
    assert connection.query["encoding"] == "linear16"
    assert connection.query["sample_rate"] == "16000"
    assert connection.query["endpointing"] == "300"
    assert connection.query["utterance_end_ms"] == "1000"
    assert connection.query["vad_events"] == connection.query["interim_results"] == "true"
    assert connection.controls == ["CloseStream"] and connection.closed_normally


async def test_the_final_arrives_while_the_stream_is_still_open(
    stt: DeepgramStt, emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    stream = await stt.open()
    events = stream.events()
    await send_frames(stream, sentence_pcm + bytes(16000))  # + 500 ms: past endpointing
    while (event := await asyncio.wait_for(anext(events), 5)).kind is not TranscriptKind.FINAL:
        pass
    assert event.speech_final and event.text.startswith("heard ")
    assert emulator.connections[0].controls == []  # nothing flushed it: endpointing did
    await stream.close()
    assert [e async for e in events] == []  # nothing pending: nothing more


async def test_silence_gives_no_words(stt: DeepgramStt) -> None:
    stream = await stt.open()
    events: list[TranscriptEvent] = []
    reader = asyncio.create_task(collect(stream, events))
    await send_frames(stream, SECOND_OF_SILENCE)
    await stream.close()
    await reader
    assert events == []


async def test_batch_transcription_finalizes_one_stream(
    stt: DeepgramStt, emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    emulator.transcripts.append("Tuesday works for me.")
    assert await stt.transcribe(sentence_pcm) == "Tuesday works for me."
    assert emulator.connections[0].controls == ["Finalize", "CloseStream"]
    assert await stt.transcribe(b"") == ""


async def test_keepalive_while_no_audio_is_sent(emulator: DeepgramEmulator) -> None:
    stt = DeepgramStt(emulator.base_url, API_KEY, keepalive_seconds=0.05)
    stream = await stt.open()
    await asyncio.sleep(0.3)  # six keep-alive periods without audio
    await stream.close()
    assert emulator.connections[0].controls[0] == "KeepAlive"


async def test_a_wrong_key_is_final_and_never_shown(
    emulator: DeepgramEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "dg-wrong-secret-424242"
    stt = DeepgramStt(emulator.base_url, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderError) as raised:
        await stt.open()
    assert (raised.value.retryable, raised.value.details["http_status"]) == (False, 401)
    assert raised.value.__suppress_context__
    for text in (str(raised.value), repr(stt), stt.url(), caplog.text):
        assert secret not in text
    assert emulator.connections == []


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)])
async def test_refused_handshakes_say_whether_to_retry(
    stt: DeepgramStt, emulator: DeepgramEmulator, status: int, retryable: bool
) -> None:
    emulator.fail.append(status)
    with pytest.raises(ProviderError) as raised:
        await stt.open()
    assert (raised.value.retryable, raised.value.details["http_status"]) == (retryable, status)


async def test_a_slow_handshake_times_out_retryably(emulator: DeepgramEmulator) -> None:
    emulator.stall_seconds = 1.0
    stt = DeepgramStt(emulator.base_url, API_KEY, open_timeout_seconds=0.05)
    with pytest.raises(ProviderError) as raised:
        await stt.open()
    assert raised.value.retryable is True
    await asyncio.sleep(1.0)  # let the stalled handler finish before the next test


async def test_a_stream_dropped_mid_call_is_retryable(
    stt: DeepgramStt, emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    emulator.drop_after_seconds = 0.5
    stream = await stt.open()
    events: list[TranscriptEvent] = []
    reader = asyncio.create_task(collect(stream, events))
    with pytest.raises(ProviderError) as sending:
        await send_frames(stream, sentence_pcm + SECOND_OF_SILENCE)
        await asyncio.sleep(0.5)
        await send_frames(stream, bytes(FRAME))
    with pytest.raises(ProviderError) as reading:
        await reader
    await stream.close()
    assert sending.value.retryable and reading.value.retryable
    assert "1011" in str(reading.value)


async def test_an_unreachable_server_is_retryable() -> None:
    stt = DeepgramStt("ws://127.0.0.1:9/v1", "dg-secret-unreachable")
    with pytest.raises(ProviderError) as raised:
        await stt.open()
    assert raised.value.retryable is True and "dg-secret" not in str(raised.value)


def test_messages_parse_as_the_documented_shapes() -> None:
    results = (
        '{"type": "Results", "start": 1.5, "duration": 0.75, "is_final": true,'
        ' "speech_final": false, "channel": {"alternatives": [{"transcript": "hi there"}]}}'
    )
    assert parse_message(results) == TranscriptEvent(
        TranscriptKind.FINAL, "hi there", start_s=1.5, end_s=2.25
    )
    assert parse_message('{"type": "UtteranceEnd", "last_word_end": 2.0}') == TranscriptEvent(
        TranscriptKind.UTTERANCE_END, start_s=2.0, end_s=2.0
    )
    assert parse_message('{"type": "Metadata", "duration": 3}') is None
    with pytest.raises(ProviderError):
        parse_message("not json")


@pytest.mark.parametrize(
    "query",
    [
        "encoding=linear16&interim_results=true",  # no sample_rate
        "encoding=opus&sample_rate=16000",
        "encoding=linear16&sample_rate=16000&utterance_end_ms=1000",  # without interim results
    ],
)
async def test_the_emulator_refuses_what_deepgram_refuses(
    emulator: DeepgramEmulator, query: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            f"{emulator.base_url}/listen?{query}",
            additional_headers={"Authorization": f"Token {API_KEY}"},
        )
    assert refused.value.response.status_code == 400
    assert emulator.connections == []
