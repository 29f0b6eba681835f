"""The stereo waveform of a recording, drawn as SVG paths from per-channel peak envelopes.

A recording (:mod:`voxline.voice.recorder`) is 16-bit PCM with the agent on the left channel
and the contact on the right. The file is read a bucket at a time, so a long call costs time,
not memory; callers run :func:`waveform` in a worker thread, never on the event loop.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BUCKETS = 480
WIDTH = 960
LANE_HEIGHT = 56


@dataclass(frozen=True, slots=True)
class Waveform:
    """Two lanes of a ``width`` by ``2 * lane_height`` drawing: agent above, contact below."""

    agent: str
    contact: str
    width: int
    lane_height: int
    duration_seconds: float


def peaks(path: Path, buckets: int = BUCKETS) -> tuple[np.ndarray, float]:
    """The peak level (0..1) of each channel in each of ``buckets`` equal slices of the file,
    shaped ``(buckets, 2)``, and the file's duration. A mono file shows on both lanes."""
    with wave.open(str(path), "rb") as wav:
        channels, width = wav.getnchannels(), wav.getsampwidth()
        frames, rate = wav.getnframes(), wav.getframerate()
        if width != 2 or channels not in (1, 2) or rate <= 0:
            raise ValueError("not a 16-bit mono or stereo recording")
        result = np.zeros((buckets, 2), dtype=np.float32)
        per_bucket = max(1, -(-frames // buckets))
        for index in range(buckets):
            chunk = np.frombuffer(wav.readframes(per_bucket), dtype="<i2")
            if chunk.size == 0:
                break
            levels = np.abs(chunk.reshape(-1, channels).astype(np.int32)).max(axis=0) / 32768
            result[index] = levels if channels == 2 else (levels[0], levels[0])
    return result, frames / rate


def _lane(levels: np.ndarray, top: float, width: int, lane_height: int) -> str:
    """A closed path mirrored about the lane's middle line."""
    middle = top + lane_height / 2
    step = width / len(levels)
    half = np.maximum(levels * (lane_height / 2 - 1), 0.5)
    xs = np.arange(len(levels)) * step
    upper = " ".join(f"{x:.1f},{middle - h:.1f}" for x, h in zip(xs, half, strict=True))
    lower = " ".join(f"{x:.1f},{middle + h:.1f}" for x, h in zip(xs[::-1], half[::-1], strict=True))
    return f"M{upper} L{lower} Z"


def waveform(path: Path) -> Waveform | None:
    """The drawing of the recording at ``path``, or ``None`` when it cannot be read."""
    try:
        levels, duration = peaks(path)
    except (OSError, EOFError, ValueError, wave.Error):
        return None
    return Waveform(
        agent=_lane(levels[:, 0], 0, WIDTH, LANE_HEIGHT),
        contact=_lane(levels[:, 1], LANE_HEIGHT, WIDTH, LANE_HEIGHT),
        width=WIDTH,
        lane_height=LANE_HEIGHT,
        duration_seconds=duration,
    )
