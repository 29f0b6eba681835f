"""A call heard by a streaming speech-to-text engine (the Deepgram emulator on loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.emulators.deepgram import API_KEY, DeepgramEmulator
from voxline.voice.audio import rms_dbfs
from voxline.voice.hearing import StreamedHearing
from voxline.voice.stages import Stage, StageFailed
from voxline.voice.stt.deepgram import DeepgramStt
from voxline.voice.stt.stream import EndOfTurn, TranscriptEvent, TranscriptKind, TurnAssembler
from voxline.voice.turns import HeardText

FRAME = 640
ENDPOINTING_MS = 300


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
    server.drop_after_seconds = None
    server.drop_streams = 1_000_000
    return server


def loud_until(pcm: bytes) -> float:
    """Seconds to the end of the last 20 ms frame the emulator counts as speech."""
    ends = [i + FRAME for i in range(0, len(pcm), FRAME) if rms_dbfs(pcm[i : i + FRAME]) > -45]
    return ends[-1] / 32000


class Call:
    """The audio side of a call: frames fed in real order, a clock that is the audio's."""

    def __init__(self, emulator: DeepgramEmulator) -> None:
        self.seconds = 0.0
        self.heard: list[HeardText] = []
        self.hearing = StreamedHearing(
            DeepgramStt(emulator.base_url, API_KEY, endpointing_ms=ENDPOINTING_MS),
            clock=lambda: self.seconds,
            deliver=self.heard.append,
        )

    async def say(self, pcm: bytes) -> None:
        """Feed ``pcm`` frame by frame, yielding so the stream keeps up."""
        for start in range(0, len(pcm), FRAME):
            self.hearing.feed(pcm[start : start + FRAME])
            self.seconds += 0.02
            await asyncio.sleep(0)

    async def until_heard(self, count: int) -> None:
        while len(self.heard) < count:
            await self.say(bytes(FRAME))


async def test_the_engine_ends_each_turn_with_its_words_and_times(
    emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    emulator.transcripts.extend(["Yes, speaking.", "Thursday works."])
    call = Call(emulator)
    running = asyncio.create_task(call.hearing.run())
    await call.say(bytes(16000))  # 0.5 s of silence first
    await call.say(sentence_pcm)
    await call.until_heard(1)
    await call.say(sentence_pcm)
    await call.until_heard(2)
    assert await call.hearing.close() == []
    await running
    first, second = call.heard
    assert (first.text, second.text) == ("Yes, speaking.", "Thursday works.")
    # The turn is placed where its words are in the audio (this test's clock is the
    # audio's): the emulator hears in 20 ms frames, hence the margin.
    last_word = 0.5 + loud_until(sentence_pcm)
    assert abs(first.last_word_at - last_word) <= 0.03
    assert abs(first.started_at - 0.5) <= 0.03
    # Ended one endpointing after the last word, plus however far this test's feeding ran
    # ahead of the network (it feeds faster than real time; a call feeds at 20 ms a frame).
    assert first.endpoint_wait_ms >= ENDPOINTING_MS - 20
    assert second.started_at > first.last_word_at
    assert len(emulator.connections) == 1 and emulator.connections[0].closed_normally


async def test_words_still_pending_at_the_hang_up_are_returned_on_close(
    emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    emulator.transcripts.append("Call me back tomorrow")
    call = Call(emulator)
    running = asyncio.create_task(call.hearing.run())
    await call.say(sentence_pcm[: len(sentence_pcm) // 2])  # cut mid-sentence
    leftovers = await call.hearing.close()
    await running
    assert call.heard == []
    assert [h.text for h in leftovers] == ["Call me back tomorrow"]


async def test_a_dropped_stream_is_opened_again(
    emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    emulator.drop_after_seconds, emulator.drop_streams = 0.2, 1
    emulator.transcripts.append("After the drop.")
    call = Call(emulator)
    running = asyncio.create_task(call.hearing.run())
    await call.say(bytes(12800))  # 0.4 s: the first stream drops in it
    while len(emulator.connections) < 2:
        await call.say(bytes(FRAME))
    await call.say(sentence_pcm)
    await call.until_heard(1)
    await call.hearing.close()
    await running
    assert [h.text for h in call.heard] == ["After the drop."]
    assert len(emulator.connections) == 2


async def test_a_stream_that_keeps_dropping_fails_the_stage(
    emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    emulator.drop_after_seconds = 0.1
    call = Call(emulator)
    running = asyncio.create_task(call.hearing.run())
    while not running.done():
        await call.say(bytes(FRAME))
    with pytest.raises(StageFailed) as raised:
        await running
    assert raised.value.failure.stage is Stage.STT
    assert "1011" in raised.value.failure.message
    assert len(emulator.connections) == 2


async def test_a_wrong_key_fails_at_once(emulator: DeepgramEmulator) -> None:
    hearing = StreamedHearing(
        DeepgramStt(emulator.base_url, "dg-bad-key-777"), clock=lambda: 0.0, deliver=print
    )
    with pytest.raises(StageFailed) as raised:
        await hearing.run()
    assert raised.value.failure.message == "speech-to-text failed: Deepgram answered HTTP 401"
    assert "dg-bad-key" not in raised.value.failure.message


def final(text: str, start: float, end: float, speech_final: bool = False) -> TranscriptEvent:
    return TranscriptEvent(TranscriptKind.FINAL, text, speech_final, start, end)


def test_finals_join_into_a_turn_that_speech_final_ends() -> None:
    turns = TurnAssembler()
    assert turns.feed(TranscriptEvent(TranscriptKind.INTERIM, "I would", end_s=1.0)) is None
    assert turns.feed(final("I would like", 0.5, 1.2)) is None
    assert turns.pending == "I would like"
    assert turns.feed(final(" a  cleaning.", 1.2, 2.0, speech_final=True)) == EndOfTurn(
        "I would like a cleaning.", 0.5, 2.0
    )
    assert turns.pending == ""


def test_an_utterance_end_ends_a_turn_endpointing_missed() -> None:
    turns = TurnAssembler()
    assert turns.feed(final("Hello", 0.0, 0.6)) is None
    utterance_end = TranscriptEvent(TranscriptKind.UTTERANCE_END, start_s=0.6, end_s=0.6)
    assert turns.feed(utterance_end) == EndOfTurn("Hello", 0.0, 0.6)
    # Nothing pending (speech_final already ended it, or only noise): no turn.
    assert turns.feed(utterance_end) is None
    assert turns.feed(final("", 1.0, 1.5, speech_final=True)) is None


async def test_closing_a_hearing_that_never_ran_returns_at_once(
    emulator: DeepgramEmulator,
) -> None:
    call = Call(emulator)
    call.hearing.feed(bytes(FRAME))
    assert await asyncio.wait_for(call.hearing.close(), 0.5) == []
    await call.hearing.run()  # closed before it ran: it opens nothing
    assert emulator.connections == []


async def test_drops_far_apart_are_not_an_outage(
    emulator: DeepgramEmulator, sentence_pcm: bytes
) -> None:
    # Two streams in a row drop, each after it had heard speech: the hearing goes on.
    emulator.drop_after_seconds, emulator.drop_streams = 1.0, 2
    call = Call(emulator)
    running = asyncio.create_task(call.hearing.run())
    while len(emulator.connections) < 3 and not running.done():
        await call.say(sentence_pcm[:6400])  # speech at once: the stream sends SpeechStarted
    assert not running.done()
    await call.hearing.close()
    await running
