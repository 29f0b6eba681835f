"""The call recorder: stereo WAV streamed to disk with flat memory."""

from __future__ import annotations

import itertools
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

from voxline.voice.recorder import CallRecorder

CALL_ID = "6f1c2a9e-2b1d-4f39-9a51-0c6d7e1f2a3b"


def samples(*values: int) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def test_agent_is_left_and_contact_is_right(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path, CALL_ID)
    recorder.write(samples(1, 2, 3), samples(-1, -2, -3))
    relative = recorder.close()

    assert relative == f"{CALL_ID}.wav"
    with wave.open(str(tmp_path / relative)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 16000)
        assert wav.getnframes() == 3
        assert wav.readframes(3) == samples(1, -1, 2, -2, 3, -3)


def test_the_shorter_side_is_padded_with_silence(tmp_path: Path) -> None:
    with CallRecorder(tmp_path, CALL_ID) as recorder:
        recorder.write(samples(5, 6), b"")
        recorder.write(samples(7), samples(8, 9))

    with wave.open(str(tmp_path / f"{CALL_ID}.wav")) as wav:
        assert wav.readframes(10) == samples(5, 0, 6, 0, 7, 8, 0, 9)


def test_audio_reaches_the_disk_before_close(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path, CALL_ID, flush_seconds=0.1)
    for _ in range(10):
        recorder.write(bytes(640), bytes(640))  # 200 ms in all

    assert recorder.path.stat().st_size >= 44 + 1600 * 4
    recorder.close()
    assert recorder.closed and recorder.close() == f"{CALL_ID}.wav"
    with pytest.raises(RuntimeError):
        recorder.write(bytes(2), bytes(2))


def test_an_hour_of_frames_keeps_memory_flat_and_the_file_exact(tmp_path: Path) -> None:
    frame = np.full(320, 1000, dtype="<i2").tobytes()  # 20 ms
    frames = 3600 * 50

    tracemalloc.start()
    try:
        recorder = CallRecorder(tmp_path, CALL_ID)
        for _ in range(frames):
            recorder.write(frame, frame)
        recorder.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    path = tmp_path / f"{CALL_ID}.wav"
    try:
        assert peak < 2_000_000  # a few seconds of audio at most, never the call
        assert path.stat().st_size == 44 + frames * 320 * 4
        with wave.open(str(path)) as wav:
            assert wav.getnframes() == frames * 320
        assert recorder.duration == 3600
    finally:
        path.unlink()


def test_call_ids_cannot_escape_the_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        CallRecorder(tmp_path, "../etc/passwd")


def _first_flush_frames(recording_dir: Path, call_id: str) -> int:
    """20 ms frames written before the recorder first reached its file."""
    recorder = CallRecorder(recording_dir, call_id)
    for written in range(1, 60):
        recorder.write(bytes(640), bytes(640))
        if recorder.stored_bytes > 44:
            recorder.close()
            return written
    recorder.close()
    raise AssertionError("no flush within 60 frames")


def test_calls_started_together_flush_on_different_ticks(tmp_path: Path) -> None:
    # Calls answered in the same second must not all write their second of audio on the same
    # 20 ms tick: the first flush comes at a phase drawn from the call's id.
    firsts = {_first_flush_frames(tmp_path, f"call-{n}") for n in range(40)}
    assert len(firsts) >= 15, sorted(firsts)
    assert all(1 <= first <= 50 for first in firsts)  # within one flush period (1 s)
    # The same id, the same phase (a recording is reproducible).
    assert _first_flush_frames(tmp_path, "call-7") == _first_flush_frames(tmp_path, "call-7")


def test_flushes_after_the_first_come_every_flush_period(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path, CALL_ID)
    sizes = []
    for _ in range(200):  # 4 s
        recorder.write(bytes(640), bytes(640))
        sizes.append(recorder.stored_bytes)
    recorder.close()
    flushes = [n for n in range(1, len(sizes)) if sizes[n] != sizes[n - 1]]
    assert [b - a for a, b in itertools.pairwise(flushes)] == [50] * (len(flushes) - 1)
    assert len(flushes) >= 3
