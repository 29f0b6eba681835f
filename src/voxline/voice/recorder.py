"""The call recorder: both sides of a call in one stereo WAV, streamed to disk.

``<recordings_dir>/<call_id>.wav`` is 16 kHz, 16-bit, two channels: left is the agent, right
the contact. Each side is appended to its own small buffer (two byte copies per 20 ms frame,
the cheap part of a live call's path) and the two are interleaved and written out whenever
they hold ``flush_seconds`` of audio, so memory stays flat however long the call; the WAV header's
sizes are filled in by :meth:`CallRecorder.close`. A call that crashes before ``close`` leaves
a file whose header counts only the first flush but whose audio is all there (any WAV repair
tool, :func:`voxline.recordings.upload.repair_header`, or a reader that ignores the declared
size recovers it).

Writes are small (64 KB per second of call) and go to the page cache, so they are done
inline rather than on a thread. A call's first flush comes after a fraction of
``flush_seconds`` drawn from its id (the later ones every ``flush_seconds``), so the calls of
a process that started together (a campaign's, answered in the same second) do not all
flush on the same 20 ms tick. Each flush reaches the file (not only Python's buffer), so
:attr:`CallRecorder.stored_bytes` of the file may be read by another handle while the call
runs: that is how :mod:`voxline.recordings.upload` streams a recording to object storage.
Only the 44-byte header is rewritten at close; every byte after it is written once.
"""

from __future__ import annotations

import os
import re
import wave
import zlib
from pathlib import Path
from types import TracebackType

import numpy as np

from voxline.voice.frames import SAMPLE_RATE, SAMPLE_WIDTH

CHANNELS = 2
# The canonical PCM header that the wave module writes: RIFF, fmt and data chunk headers.
HEADER_BYTES = 44
_PCM = np.dtype("<i2")
# Call ids are UUID strings; anything else could name a path outside the directory.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")


class CallRecorder:
    """Records one call. Not thread-safe; use from the call's own task.

    ``write`` takes equal-length chunks of agent and contact PCM16 mono at 16 kHz (a
    shorter one is padded with silence). ``close`` finalises the file and returns the path
    relative to ``recordings_dir`` — the value for ``calls.recording_path``.
    """

    def __init__(self, recordings_dir: Path, call_id: str, *, flush_seconds: float = 1.0) -> None:
        if not _SAFE_ID.match(call_id):
            raise ValueError("call id is not usable as a file name")
        # Recordings are personal data: readable by this user only.
        recordings_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.relative_path = f"{call_id}.wav"
        self.path = recordings_dir / self.relative_path
        fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._flush_bytes = max(1, int(flush_seconds * SAMPLE_RATE)) * CHANNELS * SAMPLE_WIDTH
        # The first flush: after 1/64 to all of flush_seconds, by the call's id.
        phase = (zlib.crc32(call_id.encode()) % 64 + 1) / 64
        self._next_flush_bytes = max(1, int(self._flush_bytes * phase))
        self._agent = bytearray()
        self._contact = bytearray()
        self._frames = 0
        self._stored_frames = 0
        # wave leaves a file object it was handed open: close() closes both.
        self._wav: wave.Wave_write | None = wave.open(self._file, "wb")  # noqa: SIM115
        self._wav.setnchannels(CHANNELS)
        self._wav.setsampwidth(SAMPLE_WIDTH)
        self._wav.setframerate(SAMPLE_RATE)

    @property
    def closed(self) -> bool:
        return self._wav is None

    @property
    def duration(self) -> float:
        """Seconds recorded so far."""
        return self._frames / SAMPLE_RATE

    @property
    def stored_bytes(self) -> int:
        """Bytes of the file written so far (header included); final once closed."""
        return HEADER_BYTES + self._stored_frames * CHANNELS * SAMPLE_WIDTH

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None:
        """Append one chunk of both sides (same instant, same length; pads the shorter)."""
        if self._wav is None:
            raise RuntimeError("recorder is closed")
        size = len(agent_pcm)
        if size == len(contact_pcm) and not size % SAMPLE_WIDTH:  # a frame of each, as usual
            if not size:
                return
            self._agent += agent_pcm
            self._contact += contact_pcm
        else:
            agent = memoryview(agent_pcm)[: len(agent_pcm) // SAMPLE_WIDTH * SAMPLE_WIDTH]
            contact = memoryview(contact_pcm)[: len(contact_pcm) // SAMPLE_WIDTH * SAMPLE_WIDTH]
            size = max(len(agent), len(contact))
            if not size:
                return
            self._agent += agent
            self._contact += contact
            if len(agent) < size:
                self._agent += bytes(size - len(agent))
            elif len(contact) < size:
                self._contact += bytes(size - len(contact))
        self._frames += size // SAMPLE_WIDTH
        if len(self._agent) * CHANNELS >= self._next_flush_bytes:
            self.flush()
            self._next_flush_bytes = self._flush_bytes

    def flush(self) -> None:
        """Write the buffered audio to the file (header sizes are fixed at close)."""
        if self._wav is None or not self._agent:
            return
        stereo = np.empty((len(self._agent) // SAMPLE_WIDTH, CHANNELS), dtype=_PCM)
        stereo[:, 0] = np.frombuffer(self._agent, _PCM)
        stereo[:, 1] = np.frombuffer(self._contact, _PCM)
        # writeframesraw: no header rewrite (and seek) per chunk; close() patches it once.
        self._wav.writeframesraw(stereo.tobytes())
        self._file.flush()
        self._stored_frames += len(stereo)
        self._agent.clear()
        self._contact.clear()

    def close(self) -> str:
        """Flush, finalise the header and close; returns the relative path. Idempotent."""
        if self._wav is not None:
            self.flush()
            self._wav.close()
            self._file.close()
            self._wav = None
        return self.relative_path

    def __enter__(self) -> CallRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
