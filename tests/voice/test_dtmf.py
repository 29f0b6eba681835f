"""Keypad tones and the voicemail beep: made, heard, and not heard in speech, noise or silence."""

from __future__ import annotations

import numpy as np
import pytest

from voxline.voice.dtmf import TONE_AMPLITUDE, BeepDetector, DtmfDetector, tone, tones
from voxline.voice.frames import FRAME_BYTES, silence
from voxline.voice.tts.espeak import EspeakTts

EVERY_KEY = "0123456789*#ABCD"


def heard(pcm: bytes, chunk: int = FRAME_BYTES, sample_rate: int = 16000) -> str:
    """The keys a detector hears in ``pcm`` fed ``chunk`` bytes at a time."""
    detector = DtmfDetector(sample_rate)
    keys: list[str] = []
    for start in range(0, len(pcm), chunk):
        keys += detector.feed(pcm[start : start + chunk])
    return "".join(keys)


def scaled(pcm: bytes, gain: float, noise: float = 0.0, seed: int = 7) -> bytes:
    """``pcm`` times ``gain`` plus white noise of RMS ``noise`` (of full scale)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * gain
    samples += np.random.default_rng(seed).normal(0.0, noise * 32768, samples.size)
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("key", list(EVERY_KEY))
def test_every_key_round_trips(key: str) -> None:
    assert heard(tones(key)) == key


@pytest.mark.parametrize("sample_rate", [8000, 16000])
def test_a_sequence_round_trips_in_order_at_both_rates(sample_rate: int) -> None:
    pcm = tones(EVERY_KEY, sample_rate=sample_rate)
    assert heard(pcm, chunk=333, sample_rate=sample_rate) == EVERY_KEY


def test_a_repeated_key_counts_once_per_press() -> None:
    assert heard(tones("1111")) == "1111"


def test_a_key_held_for_a_long_time_is_one_press() -> None:
    assert heard(tones("5", tone_ms=2000)) == "5"


def test_pauses_are_silence() -> None:
    assert tones("w") == silence(500)
    assert tones("W") == silence(1000)
    assert heard(tones("1w2")) == "12"


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError):
        tones("1x")


@pytest.mark.parametrize("gain", [0.05, 0.5, 1.6])
@pytest.mark.parametrize("snr_db", [None, 20.0, 10.0])
def test_keys_survive_gain_changes_and_noise(gain: float, snr_db: float | None) -> None:
    # A key's RMS is TONE_AMPLITUDE (two tones of that amplitude) times the gain.
    noise = 0.0 if snr_db is None else TONE_AMPLITUDE * gain / 10 ** (snr_db / 20)
    assert heard(scaled(tones(EVERY_KEY), gain, noise)) == EVERY_KEY


def test_keys_too_quiet_to_be_a_key_are_not_heard() -> None:
    assert heard(scaled(tones(EVERY_KEY), 0.001)) == ""


def test_a_key_with_too_much_twist_is_not_heard() -> None:
    # The "1" pair with its column tone 28 dB below its row tone.
    mixed = np.frombuffer(tone(697, 200, amplitude=0.5), dtype="<i2").astype(np.float64)
    mixed += np.frombuffer(tone(1209, 200, amplitude=0.02), dtype="<i2")
    assert heard(mixed.astype("<i2").tobytes()) == ""
    assert heard(tones("1")) == "1"


def test_silence_and_noise_are_no_keys() -> None:
    assert heard(silence(2000)) == ""
    assert heard(scaled(silence(5000), 1.0, noise=0.1)) == ""


def test_single_tones_are_no_keys() -> None:
    assert heard(tone(697, 500) + tone(1000, 500) + tone(1633, 500)) == ""


async def test_speech_is_no_keys() -> None:
    speech = await EspeakTts().synthesize(
        "Thank you for calling Acme Health. For appointments, press one. For billing, press "
        "two. Hmmmm, oooh, eeee, nine, four, one."
    )
    assert heard(speech) == ""
    assert heard(speech + tones("9")) == "9"


def test_a_beep_is_heard_once_it_ends() -> None:
    detector = BeepDetector()
    assert detector.feed(silence(100) + tone(1000, 400)) is False
    assert detector.feed(silence(100)) is True
    assert detector.feed(silence(500)) is False


@pytest.mark.parametrize("freq", [975, 1000, 1030])
def test_a_beep_a_little_off_1khz_is_heard(freq: float) -> None:
    assert BeepDetector().feed(tone(freq, 200) + silence(40)) is True


@pytest.mark.parametrize(
    "sound",
    [
        pytest.param(tone(1000, 100) + silence(40), id="too-short"),
        pytest.param(tone(400, 500) + silence(40), id="400-hz"),
        pytest.param(tone(1200, 500) + silence(40), id="1200-hz"),
        pytest.param(tones(EVERY_KEY, tone_ms=400), id="dtmf"),
        pytest.param(scaled(silence(2000), 1.0, noise=0.1), id="noise"),
        pytest.param(silence(1000), id="silence"),
    ],
)
def test_what_is_not_a_beep(sound: bytes) -> None:
    assert BeepDetector().feed(sound) is False


async def test_speech_is_not_a_beep() -> None:
    speech = await EspeakTts().synthesize("Please leave a message after the beep.")
    assert BeepDetector().feed(speech + silence(100)) is False
