"""Silero VAD scored for many calls at once gives each call the probabilities it would get
alone, and scores the windows of one loop turn in one model call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from voxline.voice.audio import float32_to_pcm16, pcm16_to_float32
from voxline.voice.frames import split_frames
from voxline.voice.vad import (
    SPEECH_END,
    SPEECH_START,
    WINDOW_BYTES,
    Endpointer,
    SileroVad,
    StreamingVad,
    VadEvent,
)
from voxline.voice.vad_batch import (
    CONTEXT_SAMPLES,
    SETTLE_PER_TURN,
    STATE_SIZE,
    BatchedSilero,
    Floats,
    SileroBatch,
)


@pytest.fixture(scope="module", params=[True, False], ids=["model-thread", "inline"])
def batch(request: pytest.FixtureRequest) -> Iterator[SileroBatch]:
    scorer = SileroBatch(threaded=request.param)
    yield scorer
    scorer.close()


class _Witness(SileroBatch):
    """A batch that notes which threads ran its model calls."""

    def __init__(self, *, threaded: bool) -> None:
        super().__init__(threaded=threaded)
        self.threads: set[int] = set()

    def _model(self, inputs: Floats, state: Floats) -> tuple[Floats, Floats]:
        self.threads.add(threading.get_ident())
        return super()._model(inputs, state)


def _windows(pcm: bytes) -> list[bytes]:
    usable = len(pcm) // WINDOW_BYTES * WINDOW_BYTES
    return [pcm[i : i + WINDOW_BYTES] for i in range(0, usable, WINDOW_BYTES)]


def _noise(seed: int, seconds: float, dbfs: float) -> bytes:
    samples = np.random.default_rng(seed).normal(0, 10 ** (dbfs / 20), int(16000 * seconds))
    return float32_to_pcm16(samples)


async def test_batched_streams_score_as_each_would_alone(
    batch: SileroBatch, sentence_pcm: bytes
) -> None:
    # Three calls hearing different audio, their windows interleaved turn by turn.
    audio = [sentence_pcm, sentence_pcm[WINDOW_BYTES * 7 :], _noise(3, 2.0, -30)]
    alone = []
    for pcm in audio:
        model = SileroVad()
        alone.append([model.probability(w) for w in _windows(pcm)])
    streams = [batch.stream() for _ in audio]
    together: list[list[float]] = [[] for _ in audio]
    runs_before = batch.runs
    turns = max(len(_windows(pcm)) for pcm in audio)
    for turn in range(turns):
        scored = []
        for index, pcm in enumerate(audio):
            windows = _windows(pcm)
            if turn < len(windows):
                scored.append((index, streams[index].score(windows[turn])))
        results = await asyncio.gather(*(coroutine for _, coroutine in scored))
        for (index, _), probability in zip(scored, results, strict=True):
            together[index].append(probability)

    for mine, reference in zip(together, alone, strict=True):
        assert mine == pytest.approx(reference, abs=1e-4)
    # Speech scores high somewhere: the comparison is not between two flat lines.
    assert max(together[0]) > 0.9 and max(together[2]) < 0.5
    # One model call per turn, not one per window.
    assert batch.runs - runs_before == turns


async def test_windows_of_separate_turns_or_of_one_stream_are_not_merged(
    batch: SileroBatch,
) -> None:
    stream = batch.stream()
    window = _windows(_noise(5, 0.1, -20))[0]
    runs = batch.runs
    await stream.score(window)
    await stream.score(window)
    assert batch.runs - runs == 2
    # Two windows of the same stream queued in one turn run one after the other, in order.
    reference = SileroVad()
    expected = [reference.probability(window) for _ in range(3)]
    again = batch.stream()
    first, second, third = await asyncio.gather(
        again.score(window), again.score(window), again.score(window)
    )
    assert [first, second, third] == pytest.approx(expected, abs=1e-4)


async def test_reset_starts_a_stream_afresh(batch: SileroBatch, sentence_pcm: bytes) -> None:
    windows = _windows(sentence_pcm)[:12]
    stream = batch.stream()
    fresh = [await stream.score(w) for w in windows]
    stream.reset()
    again = [stream.probability(w) for w in windows]
    assert again == pytest.approx(fresh, abs=1e-4)
    with pytest.raises(ValueError):
        stream.probability(bytes(640))


async def test_hearing_through_a_batch_finds_the_events_feeding_finds(
    batch: SileroBatch, sentence_pcm: bytes
) -> None:
    line = bytes(32000) + sentence_pcm + bytes(32000)
    alone = StreamingVad(SileroVad(), Endpointer(hangover_ms=400))
    batched = StreamingVad(batch.stream(), Endpointer(hangover_ms=400))
    fed: list[tuple[float, VadEvent]] = []
    heard: list[tuple[float, VadEvent]] = []
    for frame in split_frames(line):
        fed += [(alone.endpointer.position_ms, e) for e in alone.feed(frame)]
        heard += [(batched.endpointer.position_ms, e) for e in await batched.hear(frame)]
    assert [event for _, event in heard] == [SPEECH_START, SPEECH_END]
    assert heard == fed
    assert batched.take_utterance() == alone.take_utterance()


async def test_the_model_runs_on_its_own_thread_and_windows_queued_meanwhile_go_together(
    sentence_pcm: bytes,
) -> None:
    windows = _windows(sentence_pcm)
    threaded, inline = _Witness(threaded=True), _Witness(threaded=False)
    try:
        for witness in (threaded, inline):
            streams = [witness.stream() for _ in range(6)]
            # Three windows start a model call; three more are queued while it runs.
            first = [asyncio.ensure_future(s.score(windows[20])) for s in streams[:3]]
            await asyncio.sleep(0)
            second = [asyncio.ensure_future(s.score(windows[20])) for s in streams[3:]]
            probabilities = await asyncio.gather(*first, *second)
            assert len(set(probabilities)) == 1  # the same window on fresh states
            assert witness.runs == 2 and witness.windows == 6
    finally:
        threaded.close()
    loop_thread = threading.get_ident()
    assert loop_thread not in threaded.threads and len(threaded.threads) == 1
    assert inline.threads == {loop_thread}


async def _turns_resumed_in(batch: SileroBatch, listeners: int) -> list[int]:
    """Score one window for each of ``listeners`` streams in one loop turn; the number of
    listeners the batch's results resumed in each loop turn, in order."""
    window = _windows(_noise(7, 0.1, -20))[0]
    turn = 0

    async def count_turns() -> None:
        nonlocal turn
        while True:
            await asyncio.sleep(0)  # one step per turn of the loop
            turn += 1

    async def listen(stream: BatchedSilero) -> int:
        await stream.score(window)
        return turn

    counter = asyncio.create_task(count_turns())
    try:
        resumed = await asyncio.gather(*(listen(batch.stream()) for _ in range(listeners)))
    finally:
        counter.cancel()
    return [resumed.count(t) for t in sorted(set(resumed))]


async def test_a_big_batch_s_listeners_resume_a_few_per_loop_turn(batch: SileroBatch) -> None:
    # 100 calls' windows go to the model as one batch, but their listeners resume at most
    # SETTLE_PER_TURN per turn of the loop, so a timer due meanwhile (the media ticker's)
    # is looked at between them.
    runs = batch.runs
    per_turn = await _turns_resumed_in(batch, 100)
    assert batch.runs - runs == 1
    assert sum(per_turn) == 100
    assert max(per_turn) <= SETTLE_PER_TURN and len(per_turn) >= 100 // SETTLE_PER_TURN
    # A batch of at most that many resumes all its listeners in one turn.
    assert await _turns_resumed_in(batch, SETTLE_PER_TURN) == [SETTLE_PER_TURN]


def test_the_model_input_holds_each_stream_s_context_window_and_state_exactly() -> None:
    scorer = SileroBatch(threaded=False)
    rng = np.random.default_rng(5)
    streams = [scorer.stream() for _ in range(3)]
    for stream in streams:
        stream.context = rng.standard_normal(CONTEXT_SAMPLES).astype(np.float32)
        stream.state = rng.standard_normal((2, STATE_SIZE)).astype(np.float32)
    # Full scale both ways and everything between: the conversion is pcm16_to_float32's.
    windows = [_noise(seed, 0.032, -6) for seed in range(2)] + [
        np.array([-32768, 32767] * (WINDOW_BYTES // 4), dtype="<i2").tobytes()
    ]
    inputs, state = scorer._inputs(streams, windows)
    for row, (stream, window) in enumerate(zip(streams, windows, strict=True)):
        assert inputs[row, :CONTEXT_SAMPLES].tobytes() == stream.context.tobytes()
        assert inputs[row, CONTEXT_SAMPLES:].tobytes() == pcm16_to_float32(window).tobytes()
        assert state[:, row, :].tobytes() == stream.state.tobytes()
    assert state.shape == (2, 3, STATE_SIZE)
    scorer.close()
