"""Audio frames: the unit of audio moving through a live call.

Inside Voxline audio is 16-bit little-endian signed PCM, mono, 16 kHz, cut into 20 ms frames
of 320 samples (640 bytes). Conversion to and from the carrier's format (8 kHz μ-law) happens
at the edge, in the transport.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

SAMPLE_RATE = 16000
SAMPLE_WIDTH = 2  # bytes per sample (int16)
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """A chunk of 16-bit little-endian mono PCM (normally one 20 ms frame at 16 kHz)."""

    pcm: bytes
    sample_rate: int = SAMPLE_RATE

    @property
    def samples(self) -> int:
        return len(self.pcm) // SAMPLE_WIDTH

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples / self.sample_rate


def frame_bytes(sample_rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS) -> int:
    """Bytes in one frame of ``frame_ms`` at ``sample_rate``."""
    return sample_rate * frame_ms // 1000 * SAMPLE_WIDTH


def silence(duration_ms: int, sample_rate: int = SAMPLE_RATE) -> bytes:
    """``duration_ms`` of digital silence as PCM16."""
    return bytes(sample_rate * duration_ms // 1000 * SAMPLE_WIDTH)


def silence_frame(sample_rate: int = SAMPLE_RATE) -> AudioFrame:
    """One 20 ms frame of silence."""
    return AudioFrame(bytes(frame_bytes(sample_rate)), sample_rate)


def split_frames(
    pcm: bytes, sample_rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS
) -> Iterator[AudioFrame]:
    """Cut PCM into frames of ``frame_ms``; the last one is padded with silence.

    Empty input yields nothing. An odd trailing byte (half a sample) is dropped.
    """
    size = frame_bytes(sample_rate, frame_ms)
    usable = len(pcm) - len(pcm) % SAMPLE_WIDTH
    for start in range(0, usable, size):
        chunk = pcm[start : min(start + size, usable)]
        if len(chunk) < size:
            chunk += bytes(size - len(chunk))
        yield AudioFrame(chunk, sample_rate)


def duration_of(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    """Seconds of audio in a PCM16 mono buffer."""
    return len(pcm) // SAMPLE_WIDTH / sample_rate


class Framer:
    """Re-chunks a stream of PCM pieces of any size into whole frames.

    ``push`` returns every frame completed by the new bytes and keeps the remainder, so a
    transport that receives odd-sized packets still hands out exact 20 ms frames.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, frame_ms: int = FRAME_MS) -> None:
        self._sample_rate = sample_rate
        self._size = frame_bytes(sample_rate, frame_ms)
        self._pending = bytearray()

    def push(self, pcm: bytes) -> list[AudioFrame]:
        self._pending += pcm
        whole = len(self._pending) - len(self._pending) % self._size
        if not whole:
            return []
        ready = bytes(self._pending[:whole])
        del self._pending[:whole]
        return [
            AudioFrame(ready[i : i + self._size], self._sample_rate)
            for i in range(0, whole, self._size)
        ]

    def flush(self) -> AudioFrame | None:
        """The remainder padded with silence to a whole frame, or None if nothing is left."""
        pending = bytes(self._pending)
        self._pending.clear()
        pending = pending[: len(pending) - len(pending) % SAMPLE_WIDTH]
        if not pending:
            return None
        return AudioFrame(pending + bytes(self._size - len(pending)), self._sample_rate)
