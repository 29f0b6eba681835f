"""Whisper-style log-mel features of the last 8 s of a turn, the input of Smart Turn v3.

Written in numpy after ``transformers.WhisperFeatureExtractor(chunk_length=8)`` (Apache-2.0)
as Smart Turn v3 uses it (pipecat's ``local_smart_turn_v3.py``, BSD-2-Clause): the audio is
cut to its last 8 s or zero-padded at the start to 8 s, normalised to zero mean and unit
variance, then a centred 400-point STFT with a periodic Hann window and a hop of 160, an
80-band Slaney mel filterbank (0-8 kHz), log10 with a 1e-10 floor, the last frame dropped,
clamped to 8 below the maximum and scaled by ``(x + 4) / 4``. The result is ``(80, 800)``
float32. ``tests/voice/test_turn_features.py`` checks it against pipecat's own numpy port.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
SECONDS = 8
SAMPLES = SAMPLE_RATE * SECONDS
N_FFT = 400
HOP = 160
N_MELS = 80

Features = npt.NDArray[np.float32]


def _hz_to_mel(freq: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    mels = 3.0 * freq / 200.0
    log_region = freq >= 1000.0
    mels[log_region] = 15.0 + np.log(freq[log_region] / 1000.0) * (27.0 / np.log(6.4))
    return mels


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    freq = 200.0 * mels / 3.0
    log_region = mels >= 15.0
    freq[log_region] = 1000.0 * np.exp(np.log(6.4) / 27.0 * (mels[log_region] - 15.0))
    return freq


def _mel_filters() -> npt.NDArray[np.float64]:
    """(201 frequency bins, 80 mels), Slaney scale and area normalisation."""
    edges = np.array([0.0, SAMPLE_RATE / 2], dtype=np.float64)
    low, high = _hz_to_mel(edges.copy())
    filter_freqs = _mel_to_hz(np.linspace(low, high, N_MELS + 2))
    fft_freqs = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
    widths = np.diff(filter_freqs)
    slopes = filter_freqs[None, :] - fft_freqs[:, None]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(down, up))
    filters *= (2.0 / (filter_freqs[2 : N_MELS + 2] - filter_freqs[:N_MELS]))[None, :]
    return filters


_WINDOW = np.hanning(N_FFT + 1)[:-1]  # periodic Hann, as torch.hann_window
_FILTERS = _mel_filters()


def last_seconds(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The last 8 s of ``audio``, zero-padded at the start when shorter."""
    if audio.size >= SAMPLES:
        return audio[-SAMPLES:]
    return np.pad(audio, (SAMPLES - audio.size, 0))


def log_mel(audio: npt.NDArray[np.float32]) -> Features:
    """Features of exactly 8 s of 16 kHz float audio (see the module's docstring)."""
    if audio.ndim != 1 or audio.size != SAMPLES:
        raise ValueError(f"expected {SAMPLES} samples of mono audio")
    x = audio.astype(np.float32)
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    padded = np.pad(x.astype(np.float64), (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=-1)) ** 2
    mel = np.maximum(1e-10, _FILTERS.T @ power.T)
    spec = np.log10(mel)[:, :-1]
    spec = np.maximum(spec, spec.max() - 8.0)
    features: Features = ((spec + 4.0) / 4.0).astype(np.float32)
    return features
