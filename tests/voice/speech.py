"""Helpers for tests that listen to real speech."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edit distance over the reference length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)] / max(1, len(ref))


def channel_levels(path: Path) -> tuple[float, float, float]:
    """(seconds, RMS of the left channel, RMS of the right channel) of a stereo WAV."""
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = np.frombuffer(frames, dtype=np.int16).reshape(-1, 2).astype(np.float64)
    left, right = np.sqrt((samples**2).mean(axis=0))
    return seconds, float(left), float(right)
