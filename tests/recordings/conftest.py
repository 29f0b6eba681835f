"""The recording store's fixtures: moto's S3 on loopback and synthetic call audio."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np

from tests.emulators.s3 import s3, s3_server
from voxline.recordings.upload import SpooledUpload
from voxline.voice.frames import SAMPLE_RATE

__all__ = ["chunks", "parts_uploaded", "s3", "s3_server", "seconds_for"]

# One second of one side: 16 kHz PCM16 mono (a stereo second is twice that).
SECOND = SAMPLE_RATE * 2


def chunks(seconds: int, seed: int = 7) -> Iterator[tuple[bytes, bytes]]:
    """``seconds`` of agent and contact audio: noise, different on each side and second."""
    rng = np.random.default_rng(seed)
    for _ in range(seconds):
        agent, contact = rng.integers(-3000, 3000, (2, SAMPLE_RATE), dtype=np.int16)
        yield agent.tobytes(), contact.tobytes()


def seconds_for(mib: float) -> int:
    """Seconds of stereo audio that make a recording of about ``mib`` MiB."""
    return int(mib * 1024 * 1024 / (2 * SECOND)) + 1


async def parts_uploaded(upload: SpooledUpload, *numbers: int) -> None:
    """Wait until the pump has uploaded these parts (bounded: a stuck pump fails the test)."""
    for _ in range(1000):
        if set(numbers) <= set(upload.etags):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"parts {numbers} not uploaded; have {sorted(upload.etags)}")
