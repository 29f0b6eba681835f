"""The echo canceller on real speech: the agent's voice coming back is not heard as the
contact, the contact talking over it is."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.voice.speech import phone_line
from voxline.voice.echo import EchoCanceller
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


def speech_starts(agent: bytes, incoming: bytes, canceller: EchoCanceller | None) -> list[int]:
    """Where (ms) the VAD hears speech start in ``incoming``, cleaned by ``canceller``."""
    vad = StreamingVad(SileroVad(), Endpointer())
    outgoing = agent + bytes(max(0, len(incoming) - len(agent)))
    starts = []
    for index, (out, heard) in enumerate(
        zip(split_frames(outgoing), split_frames(incoming), strict=False)
    ):
        pcm = heard.pcm
        if canceller is not None:
            canceller.reference(out.pcm)
            pcm = canceller.process(pcm)
        if SPEECH_START in vad.feed(pcm):
            starts.append(index * 20)
    return starts


@pytest.mark.parametrize(("delay_ms", "gain_db"), [(60, -10), (120, -15), (200, -20)])
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
