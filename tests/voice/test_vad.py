"""Voice activity detection: the endpointing state machine, and Silero on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from voxline.voice.audio import float32_to_pcm16
from voxline.voice.frames import silence, split_frames
from voxline.voice.vad import (
    SPEECH_END,
    SPEECH_START,
    WINDOW_BYTES,
    Endpointer,
    EndpointState,
    EnergyVad,
    SileroVad,
    StreamingVad,
    VadEvent,
)


def run(
    endpointer: Endpointer, probabilities: list[float], step: float = 10.0
) -> list[tuple[int, VadEvent]]:
    """Feed probabilities; (index, event) for every event."""
    return [
        (i, event)
        for i, p in enumerate(probabilities)
        if (event := endpointer.feed(p, step)) is not None
    ]


def test_speech_starts_after_the_minimum_duration_and_ends_after_the_hangover() -> None:
    endpointer = Endpointer(threshold=0.5, min_speech_ms=30, hangover_ms=50)

    events = run(endpointer, [0.1] * 5 + [0.9] * 10 + [0.05] * 10)

    assert events == [(7, SPEECH_START), (19, SPEECH_END)]
    assert endpointer.speech_started_ms == 50
    assert endpointer.speech_ended_ms == 150
    assert endpointer.state is EndpointState.SILENCE


def test_a_blip_shorter_than_the_minimum_is_ignored() -> None:
    endpointer = Endpointer(min_speech_ms=40, hangover_ms=50)

    assert run(endpointer, [0.9, 0.9, 0.9, 0.1, 0.9, 0.9, 0.1] + [0.0] * 20) == []
    assert not endpointer.speaking


def test_a_pause_shorter_than_the_hangover_does_not_end_speech() -> None:
    endpointer = Endpointer(min_speech_ms=20, hangover_ms=100)

    events = run(endpointer, [0.9] * 5 + [0.0] * 9 + [0.9] * 5 + [0.0] * 10)

    assert events == [(1, SPEECH_START), (28, SPEECH_END)]
    assert endpointer.speech_ended_ms == 190


def test_hysteresis_keeps_speech_going_between_release_and_threshold() -> None:
    endpointer = Endpointer(threshold=0.5, release=0.3, min_speech_ms=10, hangover_ms=30)

    events = run(endpointer, [0.9, 0.4, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2])

    assert events == [(0, SPEECH_START), (7, SPEECH_END)]
    assert endpointer.speech_ended_ms == 50


def test_a_probability_between_release_and_threshold_does_not_resume_in_hangover() -> None:
    endpointer = Endpointer(threshold=0.5, release=0.3, min_speech_ms=10, hangover_ms=30)

    events = run(endpointer, [0.9, 0.1, 0.4, 0.4])

    assert events == [(0, SPEECH_START), (3, SPEECH_END)]


def test_zero_minimum_starts_on_the_first_voiced_window() -> None:
    assert run(Endpointer(min_speech_ms=0), [0.2, 0.6]) == [(1, SPEECH_START)]


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        Endpointer(threshold=0)
    with pytest.raises(ValueError):
        Endpointer(threshold=0.5, release=0.7)
    with pytest.raises(ValueError):
        Endpointer(hangover_ms=-1)


def loud(ms: int) -> bytes:
    t = np.arange(16 * ms) / 16000
    return float32_to_pcm16(0.3 * np.sin(2 * np.pi * 220 * t))


def feed_all(vad: StreamingVad, pcm: bytes) -> list[tuple[float, VadEvent]]:
    """(stream position in ms, event) for each event, feeding 20 ms frames."""
    return [
        (vad.endpointer.position_ms, event)
        for frame in split_frames(pcm)
        for event in vad.feed(frame)
    ]


def test_streaming_vad_windows_frames_and_captures_the_utterance_with_preroll() -> None:
    vad = StreamingVad(EnergyVad(), Endpointer(min_speech_ms=64, hangover_ms=192), preroll_ms=96)
    audio = silence(960) + loud(640) + silence(960)

    events = feed_all(vad, audio)

    assert [event for _, event in events] == [SPEECH_START, SPEECH_END]
    assert vad.endpointer.speech_started_ms == 960
    utterance = vad.take_utterance()
    assert utterance is not None
    # 96 ms pre-roll + 640 ms speech + the 192 ms hang-over, in whole 32 ms windows.
    assert len(utterance) == (3 + 20 + 6) * WINDOW_BYTES
    assert vad.take_utterance() is None


def test_streaming_vad_keeps_only_the_last_seconds_of_a_very_long_utterance() -> None:
    vad = StreamingVad(EnergyVad(), Endpointer(min_speech_ms=0, hangover_ms=32), max_utterance_s=1)

    feed_all(vad, loud(3000) + silence(200))

    utterance = vad.take_utterance()
    assert utterance is not None and len(utterance) == 32000


def test_streaming_vad_refuses_other_sample_rates() -> None:
    vad = StreamingVad(EnergyVad())
    with pytest.raises(ValueError):
        vad.feed(next(split_frames(bytes(320), sample_rate=8000)))


@pytest.fixture(scope="module")
def silero_stream() -> StreamingVad:
    return StreamingVad(SileroVad(), Endpointer(hangover_ms=400))


def test_silero_scores_speech_high_and_silence_low(sentence_pcm: bytes) -> None:
    vad = SileroVad()
    usable = len(sentence_pcm) // WINDOW_BYTES * WINDOW_BYTES

    scores = [
        vad.probability(sentence_pcm[i : i + WINDOW_BYTES]) for i in range(0, usable, WINDOW_BYTES)
    ]
    vad.reset()
    silence_scores = [vad.probability(bytes(WINDOW_BYTES)) for _ in range(20)]

    middle = scores[len(scores) // 4 : 3 * len(scores) // 4]
    assert np.mean([score >= 0.5 for score in middle]) > 0.8
    assert max(silence_scores) < 0.1


def test_silero_finds_one_utterance_in_speech_between_silences(
    sentence_pcm: bytes, silero_stream: StreamingVad
) -> None:
    silero_stream.reset()
    speech_ms = len(sentence_pcm) / 32

    events = feed_all(silero_stream, silence(1000) + sentence_pcm + silence(1000))

    assert [event for _, event in events] == [SPEECH_START, SPEECH_END]
    endpointer = silero_stream.endpointer
    assert endpointer.speech_started_ms == pytest.approx(1000, abs=150)
    assert endpointer.speech_ended_ms == pytest.approx(1000 + speech_ms, abs=250)
    assert silero_stream.take_utterance()


def test_silero_ignores_quiet_line_noise(silero_stream: StreamingVad) -> None:
    silero_stream.reset()
    noise = np.random.default_rng(7).normal(0, 10 ** (-50 / 20), 16000 * 2)

    assert feed_all(silero_stream, float32_to_pcm16(noise)) == []


def test_silero_window_must_be_512_samples() -> None:
    with pytest.raises(ValueError):
        SileroVad().probability(bytes(640))
