"""The echo canceller on real speech: the agent's voice coming back is not heard as the
contact, the contact talking over it is."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.voice.speech import phone_line
from voxline.voice.echo import EchoCanceller, _frame_energy, _History, _Stream
from voxline.voice.frames import split_frames
from voxline.voice.tts.espeak import EspeakTts
from voxline.voice.vad import SPEECH_START, Endpointer, SileroVad, StreamingVad

AGENT = (
    "Hi Jane, this is Ava from Voxline Dental. I'm calling to confirm your appointment on "
    "Thursday at two."
)
CONTACT = "Wait, stop, I need to change that."


@pytest.fixture(scope="module")
async def voices() -> tuple[bytes, bytes]:
    tts = EspeakTts()
    return await tts.synthesize(AGENT, "espeak-en-us"), await tts.synthesize(
        CONTACT, "espeak-en-us-f3"
    )


def line_with_echo(agent: bytes, delay_ms: int, gain_db: float, tail_s: float = 1.0) -> bytes:
    """What comes back on a line that echoes ``agent``: delayed, attenuated, coloured by a
    short filter, and through the 8 kHz mu-law phone codec."""
    samples = np.frombuffer(agent, dtype=np.int16).astype(np.float64)
    delay = delay_ms * 16
    incoming = np.zeros(len(samples) + delay + int(tail_s * 16000))
    echo = np.convolve(samples, [0.5, 0.3, 0.2])[: len(samples)] * 10 ** (gain_db / 20)
    incoming[delay : delay + len(samples)] = echo
    return phone_line(np.clip(incoming, -32768, 32767).astype(np.int16).tobytes())


def mix(base: bytes, other: bytes, at_s: float) -> bytes:
    out = np.frombuffer(base, dtype=np.int16).astype(np.float64).copy()
    add = np.frombuffer(other, dtype=np.int16).astype(np.float64)
    start = int(at_s * 16000)
    out[start : start + len(add)] += add[: len(out) - start]
    return np.clip(out, -32768, 32767).astype(np.int16).tobytes()


def speech_starts(
    agent: bytes, incoming: bytes, canceller: EchoCanceller | None, block_ms: int = 20
) -> list[int]:
    """Where (ms) the VAD hears speech start in ``incoming``, cleaned by ``canceller``, both
    streams handed over in blocks of ``block_ms`` (a session's media_block_ms)."""
    vad = StreamingVad(SileroVad(), Endpointer())
    outgoing = agent + bytes(max(0, len(incoming) - len(agent)))
    starts = []
    for index, (out, heard) in enumerate(
        zip(
            split_frames(outgoing, frame_ms=block_ms),
            split_frames(incoming, frame_ms=block_ms),
            strict=False,
        )
    ):
        pcm = heard.pcm
        if canceller is not None:
            canceller.reference(out.pcm)
            pcm = canceller.process(pcm)
        if SPEECH_START in vad.feed(pcm):
            starts.append(index * block_ms)
    return starts


@pytest.mark.parametrize(
    ("delay_ms", "gain_db"), [(60, -10), (87, -12), (120, -15), (200, -20), (333, -15)]
)
async def test_an_echo_of_the_agent_is_never_heard_as_speech(
    voices: tuple[bytes, bytes], delay_ms: int, gain_db: float
) -> None:
    agent, _ = voices
    incoming = line_with_echo(agent, delay_ms, gain_db)
    # Without the canceller, the echo reads as speech (the check is not vacuous).
    assert speech_starts(agent, incoming, None) != []
    canceller = EchoCanceller()
    assert speech_starts(agent, incoming, canceller) == []
    assert canceller.echo_present
    assert canceller.delay_ms is not None
    assert abs(canceller.delay_ms - delay_ms) <= 5  # a few samples' error, stated margin


@pytest.mark.parametrize(("delay_ms", "gain_db"), [(60, -10), (200, -20)])
async def test_an_echo_heard_in_40_ms_blocks_is_removed_and_the_contact_over_it_heard(
    voices: tuple[bytes, bytes], delay_ms: int, gain_db: float
) -> None:
    agent, contact = voices
    incoming = line_with_echo(agent, delay_ms, gain_db)
    assert speech_starts(agent, incoming, None, block_ms=40) != []  # the echo reads as speech
    canceller = EchoCanceller()
    assert speech_starts(agent, incoming, canceller, block_ms=40) == []
    assert canceller.delay_ms is not None and abs(canceller.delay_ms - delay_ms) <= 5
    over = mix(incoming, contact, at_s=2.0)
    starts = speech_starts(agent, over, EchoCanceller(), block_ms=40)
    assert starts != [] and all(start >= 2000 for start in starts)
    assert starts[0] <= 2000 + 400


@pytest.mark.parametrize(("delay_ms", "gain_db"), [(60, -10), (200, -20)])
async def test_the_contact_talking_over_the_echo_is_heard(
    voices: tuple[bytes, bytes], delay_ms: int, gain_db: float
) -> None:
    agent, contact = voices
    incoming = mix(line_with_echo(agent, delay_ms, gain_db), contact, at_s=2.0)
    starts = speech_starts(agent, incoming, EchoCanceller())
    assert starts != []
    assert all(start >= 2000 for start in starts)  # the contact, not the echo before it
    assert starts[0] <= 2000 + 400


async def test_a_line_without_echo_passes_the_contact_unchanged(
    voices: tuple[bytes, bytes],
) -> None:
    agent, contact = voices
    incoming = mix(bytes(len(agent) + 32000), contact, at_s=1.0)
    canceller = EchoCanceller()
    assert speech_starts(agent, incoming, canceller) != []
    assert not canceller.echo_present


async def test_cleaning_a_frame_costs_a_fraction_of_a_millisecond(
    voices: tuple[bytes, bytes],
) -> None:
    agent, _ = voices
    incoming = line_with_echo(agent, 120, -15)
    canceller = EchoCanceller()
    spent = []
    for out, heard in zip(split_frames(agent), split_frames(incoming), strict=False):
        canceller.reference(out.pcm)
        started = time.process_time()
        canceller.process(heard.pcm)
        spent.append(time.process_time() - started)
    # CPU time, not wall time; a generous bound (measured ~0.15 ms p50) that load cannot
    # break but an accidental per-sample Python loop (~50 ms a frame) would.
    assert float(np.median(spent)) < 0.005


async def test_the_echo_is_found_when_the_streams_did_not_start_together(
    voices: tuple[bytes, bytes],
) -> None:
    agent, _ = voices
    incoming = line_with_echo(agent, 120, -15)
    canceller = EchoCanceller()
    early = bytes(640)
    for _ in range(75):  # 1.5 s heard before the agent's first frame
        canceller.process(early)
    assert speech_starts(agent, incoming, canceller) == []
    assert canceller.echo_present


async def test_a_silent_line_costs_no_search_and_is_passed_as_it_is(
    voices: tuple[bytes, bytes],
) -> None:
    agent, _ = voices
    canceller = EchoCanceller()
    silence = bytes(640)
    for out in split_frames(agent):
        canceller.reference(out.pcm)
        assert canceller.process(silence) is silence
    assert canceller.searches == 0
    # The negative case: the same agent with its echo on the line is searched for.
    echoing = EchoCanceller()
    speech_starts(agent, line_with_echo(agent, 120, -15), echoing)
    assert echoing.searches > 0


async def test_the_contact_talking_while_the_agent_is_quiet_costs_no_search(
    voices: tuple[bytes, bytes],
) -> None:
    _, contact = voices
    canceller = EchoCanceller()
    quiet = bytes(len(contact) + 32000)
    incoming = mix(quiet, contact, at_s=0.5)
    assert speech_starts(quiet, incoming, canceller) != []
    assert canceller.searches == 0
    assert not canceller.echo_present


async def test_noise_that_does_not_follow_the_agent_costs_few_searches(
    voices: tuple[bytes, bytes],
) -> None:
    agent, _ = voices
    rng = np.random.default_rng(7)
    # Steady line noise at about -55 dBFS: sound on the line, but not shaped like the agent.
    noise = (rng.standard_normal(len(agent) // 2) * 60).astype(np.int16).tobytes()
    canceller = EchoCanceller()
    speech_starts(agent, noise, canceller)
    frames = len(agent) // 640
    # The schedule alone would search ~60 times over these frames (every 2 in the first
    # 2 s, every 10 later); the loudness-envelope check lets at most a few through.
    assert canceller.searches <= 5, canceller.searches
    assert not canceller.echo_present
    assert frames > 100


@pytest.mark.parametrize("frame", [320, 333, 7], ids=["frame320", "frame333", "frame7"])
def test_the_stream_history_keeps_the_last_samples_in_order(frame: int) -> None:
    history = _History(1000)
    stream = np.arange(5000, dtype=np.int16)
    for at in range(0, len(stream), frame):
        history.push(stream[at : at + frame])
        seen = min(at + frame, len(stream))
        assert history.end == seen
        kept = min(seen, 1000)
        np.testing.assert_array_equal(history.last(kept), stream[seen - kept : seen])
    np.testing.assert_array_equal(history.range(4100, 4200), stream[4100:4200])
    # Not yet seen: zeros; no longer kept: None.
    np.testing.assert_array_equal(history.range(4990, 5010)[10:], np.zeros(10))
    assert history.range(3999, 4100) is None


def test_a_frames_energy_is_its_exact_sum_of_squares() -> None:
    # Full scale, the largest squares there are: any summation order stays exact in float64.
    rng = np.random.default_rng(3)
    for length in (320, 333, 7, 16000):
        samples = rng.choice(np.array([-32768, 32767, -1, 0, 12345], dtype=np.int16), length)
        exact = sum(int(x) * int(x) for x in samples)
        assert _frame_energy(samples.astype(np.float64)) == float(exact)


def _measured_one_by_one(frames: list[bytes], loud: float) -> tuple[list[float], int]:
    """Each frame's level and the position after the last loud one, frame by frame."""
    levels, loud_end, end = [], 0, 0
    for frame in frames:
        floats = np.frombuffer(frame, dtype=np.int16).astype(np.float64)
        energy = _frame_energy(floats)
        end += len(floats)
        levels.append(float(np.sqrt(energy / max(1, len(floats)))))
        if energy > loud * len(floats):
            loud_end = end
    return levels, loud_end


@pytest.mark.parametrize("lengths", [[320], [320, 333, 7, 0, 320], [16000, 320]])
def test_a_stream_measured_lazily_matches_one_measured_frame_by_frame(lengths: list[int]) -> None:
    rng = np.random.default_rng(5)
    frames = []
    for n in range(120):
        length = lengths[n % len(lengths)]
        scale = (0, 5, 200, 32767)[n % 4]  # silent, quiet, loud, full scale
        frame = rng.integers(-scale, scale + 1, length, endpoint=False) if scale else None
        frames.append((frame if frame is not None else np.zeros(length)).astype("<i2").tobytes())
    loud = 100.0**2
    lazy = _Stream(keep=20_000, levels=500, loud_energy=loud)
    for n, frame in enumerate(frames):
        lazy.add(frame)
        if n % 37 == 36:  # read now and then, as a due search does
            lazy.measure()
    history = lazy.measure()
    levels, loud_end = _measured_one_by_one(frames, loud)
    assert list(lazy.levels) == levels  # exactly: sums of 16-bit squares are exact
    assert lazy.loud_end == loud_end
    stream = np.frombuffer(b"".join(frames), dtype=np.int16)
    assert lazy.end == history.end == len(stream)
    np.testing.assert_array_equal(history.last(history.keep), stream[-history.keep :])


def test_a_stream_measures_its_queue_before_it_grows_long() -> None:
    stream = _Stream(keep=1000, levels=10, loud_energy=1.0)
    for _ in range(200):
        stream.add(np.full(320, 50, dtype="<i2").tobytes())
    # Measured at most every 64 frames: the history is never far behind.
    assert stream.end - stream.history.end < 64 * 320
    assert stream.end == 200 * 320


def test_a_frame_of_half_a_sample_is_refused() -> None:
    stream = _Stream(keep=1000, levels=10, loud_energy=1.0)
    with pytest.raises(ValueError, match="16-bit samples"):
        stream.add(b"\x01\x02\x03")
    assert stream.end == 0  # nothing queued
