"""Agent speech resampled once per utterance to the line's rate, against the streaming
resampler it replaces, and a session on an 8 kHz line sending 8 kHz frames."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from voxline.testing import (
    ContactLine,
    FakeBrain,
    FakeLine,
    FakeStt,
    FakeTts,
    MemoryTranscript,
    VirtualClock,
    fake_vad,
)
from voxline.voice.audio import Resampler
from voxline.voice.brain.base import Reply
from voxline.voice.frames import FRAME_BYTES, SAMPLE_RATE, frame_bytes
from voxline.voice.playback import Playback, Utterance
from voxline.voice.session import CallSession, SessionConfig

LINE_RATE = 8000
# Whole-utterance resampling (soxr "HQ") against the live stream's 20 ms pieces (soxr "QQ"):
# on telephone-band speech the two differ by ~0.1% of the signal's RMS (-57 dB); 1% is the
# bound, far below what a listener or the contact's speech-to-text could notice.
TOLERANCE = 0.01


def speech_like(seconds: float, pitch: float = 190.0) -> bytes:
    """16 kHz PCM16: a buzz with harmonics under 3.4 kHz, syllable-modulated."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    buzz = sum(np.sin(2 * math.pi * pitch * k * t) / k for k in range(1, 8))
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * 4 * t)
    return (buzz * envelope * 6000).astype("<i2").tobytes()


def relative_error(a: bytes, b: bytes) -> float:
    x = np.frombuffer(a, "<i2").astype(np.float64)
    y = np.frombuffer(b, "<i2").astype(np.float64)
    return float(np.sqrt(np.mean((x - y) ** 2)) / np.sqrt(np.mean(y**2)))


def played_on(playback: Playback, frames: int) -> tuple[bytes, bytes, list[int]]:
    """``frames`` frames: the 16 kHz audio, the line's audio and each line frame's rate."""
    pcm, line, rates = [], [], []
    for _ in range(frames):
        played = playback.next_played()
        pcm.append(played.pcm)
        line.append(played.line.pcm)
        rates.append(played.line.sample_rate)
    return b"".join(pcm), b"".join(line), rates


def streamed(pcm: bytes) -> bytes:
    """``pcm`` resampled to 8 kHz 20 ms at a time, as the carriers' codecs do per frame."""
    resampler = Resampler(SAMPLE_RATE, LINE_RATE)
    pieces = [resampler.process(pcm[i : i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES)]
    return b"".join(pieces) + resampler.flush()


def test_an_utterance_resampled_once_matches_the_frame_by_frame_stream() -> None:
    pcm = speech_like(2.0)
    playback = Playback(line_rate=LINE_RATE)
    playback.enqueue(Utterance(1, "hello there", pcm))
    frames = len(pcm) // FRAME_BYTES
    heard, line, rates = played_on(playback, frames)
    assert heard == pcm  # the 16 kHz side (recording, played position) is unchanged
    assert rates == [LINE_RATE] * frames
    assert len(line) == frames * frame_bytes(LINE_RATE)
    reference = streamed(pcm)[: len(line)]
    assert relative_error(line, reference) < TOLERANCE


def test_the_comparison_notices_audio_one_frame_out_of_step() -> None:
    # The negative case: the same audio a frame late is far outside the tolerance.
    pcm = speech_like(2.0)
    playback = Playback(line_rate=LINE_RATE)
    playback.enqueue(Utterance(1, "hello there", pcm))
    _, line, _ = played_on(playback, len(pcm) // FRAME_BYTES)
    late = bytes(frame_bytes(LINE_RATE)) + streamed(pcm)
    assert relative_error(line, late[: len(line)]) > 10 * TOLERANCE


def test_frames_keep_the_played_position_and_idle_frames_are_line_silence() -> None:
    pcm = speech_like(0.05)  # two frames and a half
    playback = Playback(line_rate=LINE_RATE)
    utterance = Utterance(1, "one two three four", pcm)
    playback.enqueue(utterance)
    first = playback.next_played()
    assert first.utterance is utterance and utterance.played_bytes == FRAME_BYTES
    assert utterance.spoken_text() == "one"
    playback.next_played()
    last = playback.next_played()
    assert last.utterance is utterance and utterance.done
    assert len(last.line.pcm) == frame_bytes(LINE_RATE)
    assert any(last.line.pcm[:80]) and not any(last.line.pcm[-80:])  # padded with silence
    idle = playback.next_played()
    assert idle.utterance is None
    assert idle.line.sample_rate == LINE_RATE and idle.line.pcm == bytes(frame_bytes(LINE_RATE))
    assert playback.take_finished() == [utterance]


@pytest.mark.parametrize("rate", [LINE_RATE, SAMPLE_RATE])
def test_blocks_of_40_ms_play_the_same_audio_as_20_ms_frames(rate: int) -> None:
    pcm = speech_like(0.25)  # six blocks and a quarter: the last one is padded
    frames = Playback(line_rate=rate)
    blocks = Playback(line_rate=rate, block_ms=40)
    frames.enqueue(Utterance(1, "a b c d", pcm))
    blocks.enqueue(Utterance(1, "a b c d", pcm))
    by_frame = [frames.next_played() for _ in range(16)]
    by_block = [blocks.next_played() for _ in range(8)]
    assert b"".join(p.pcm for p in by_block) == b"".join(p.pcm for p in by_frame)
    assert b"".join(p.line.pcm for p in by_block) == b"".join(p.line.pcm for p in by_frame)
    assert all(len(p.pcm) == 2 * FRAME_BYTES for p in by_block)
    assert all(len(p.line.pcm) == frame_bytes(rate, 40) for p in by_block)
    assert by_block[6].utterance is not None and by_block[7].utterance is None  # then idle


@pytest.mark.parametrize("block_ms", [0, 30, -20])
def test_a_block_is_a_whole_number_of_frames(block_ms: int) -> None:
    with pytest.raises(ValueError, match="whole number"):
        Playback(block_ms=block_ms)


def test_a_16khz_line_gets_the_utterance_as_it_is() -> None:
    pcm = speech_like(0.2)
    playback = Playback()
    playback.enqueue(Utterance(1, "hi", pcm))
    heard, line, rates = played_on(playback, len(pcm) // FRAME_BYTES)
    assert line == heard == pcm
    assert rates == [SAMPLE_RATE] * len(rates)


@pytest.mark.parametrize("rate", [LINE_RATE, SAMPLE_RATE])
async def test_a_session_sends_frames_at_its_line_s_rate(rate: int) -> None:
    clock = VirtualClock()
    stt = FakeStt()
    line = FakeLine([ContactLine("What time is it?")], stt, hang_up_after_ms=3000, line_rate=rate)
    transcript = MemoryTranscript()
    session = CallSession(
        brain=FakeBrain("Hello, this is Ava.", deque([Reply("It is two o'clock.")])),
        stt=stt,
        tts=FakeTts(),
        vad=fake_vad(),
        transcript=transcript,
        config=SessionConfig(),
        clock=clock.now,
        sleep=clock.sleep,
    )
    await clock.run(session.run(line), limit_seconds=600)
    assert transcript.said_by("agent") == ["Hello, this is Ava.", "It is two o'clock."]
    assert line.agent_rates and set(line.agent_rates) == {rate}
    assert line.closed_by == "contact"
    assert any(line.agent_frames) and not all(line.agent_frames)
