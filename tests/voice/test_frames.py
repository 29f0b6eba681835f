"""Audio frames: 20 ms of 16 kHz PCM16 mono."""

from __future__ import annotations

from voxline.voice.frames import (
    FRAME_BYTES,
    AudioFrame,
    Framer,
    duration_of,
    silence,
    silence_frame,
    split_frames,
)


def test_a_frame_is_20_ms_of_16_khz_pcm16() -> None:
    assert FRAME_BYTES == 640
    frame = silence_frame()
    assert frame == AudioFrame(bytes(640))
    assert frame.samples == 320
    assert frame.duration == 0.02


def test_split_pads_the_last_frame_with_silence() -> None:
    pcm = b"\x01\x00" * 500  # 500 samples: one full frame and 180 samples

    frames = list(split_frames(pcm))

    assert [len(f.pcm) for f in frames] == [640, 640]
    assert frames[0].pcm == pcm[:640]
    assert frames[1].pcm == pcm[640:] + bytes(640 - 360)


def test_split_of_nothing_is_nothing_and_odd_bytes_are_dropped() -> None:
    assert list(split_frames(b"")) == []
    assert list(split_frames(b"\x07")) == []
    assert [f.pcm for f in split_frames(b"\x01\x02\x03")] == [b"\x01\x02" + bytes(638)]


def test_split_at_another_rate() -> None:
    frames = list(split_frames(bytes(320), sample_rate=8000))

    assert [(len(f.pcm), f.sample_rate) for f in frames] == [(320, 8000)]


def test_silence_has_the_asked_duration() -> None:
    assert silence(1000) == bytes(32000)
    assert duration_of(silence(250)) == 0.25
    assert silence(20, sample_rate=8000) == bytes(320)


def test_framer_regroups_odd_sized_packets_into_whole_frames() -> None:
    framer = Framer()
    pcm = bytes(range(256)) * 10  # 2560 bytes = 4 frames

    out = [f for start in range(0, len(pcm), 300) for f in framer.push(pcm[start : start + 300])]

    assert b"".join(f.pcm for f in out) == pcm
    assert all(len(f.pcm) == FRAME_BYTES for f in out)
    assert framer.flush() is None


def test_framer_flush_pads_the_remainder() -> None:
    framer = Framer()
    assert framer.push(b"\x05\x00" * 10) == []

    last = framer.flush()

    assert last is not None and last.pcm == b"\x05\x00" * 10 + bytes(620)
    assert framer.flush() is None
