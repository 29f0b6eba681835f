"""The local-disk recording store: today's paths, never a file outside its directory."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.recordings.conftest import chunks
from voxline.recordings import LocalRecordings

CALL = "3c0e7a4c-33a1-4d43-9a8e-3d2f1f6d3c04"


async def test_a_recording_is_kept_where_voxline_always_kept_it(tmp_path: Path) -> None:
    store = LocalRecordings(tmp_path / "recordings")
    writer = await store.open(CALL)
    for agent, contact in chunks(2):
        writer.write(agent, contact)

    location = await writer.finish()

    assert location == f"{CALL}.wav"
    assert await store.local_file(location) == (tmp_path / "recordings" / location).resolve()
    assert await store.download_url(location, "x.wav") is None  # Voxline serves it itself
    await store.delete(location)
    await store.delete(location)  # a missing file is no error
    assert await store.local_file(location) is None


async def test_a_location_outside_the_directory_is_never_read_nor_deleted(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("key")
    store = LocalRecordings(tmp_path / "recordings")

    assert await store.local_file("../secret.key") is None
    await store.delete("../secret.key")
    await store.delete(str(secret))

    assert secret.exists()
    assert not store.owns("s3://bucket/a.wav") and store.owns("a.wav")


async def test_older_than_goes_by_the_files_time_and_discard_leaves_nothing(
    tmp_path: Path,
) -> None:
    store = LocalRecordings(tmp_path)
    old, new = tmp_path / "old.wav", tmp_path / "new.wav"
    for path in (old, new, tmp_path / "notes.txt"):
        path.write_bytes(b"RIFF")
    week_ago = time.time() - 7 * 86400
    os.utime(old, (week_ago, week_ago))
    os.utime(tmp_path / "notes.txt", (week_ago, week_ago))

    assert await store.older_than(datetime.now(UTC) - timedelta(days=1)) == ["old.wav"]
    assert await store.older_than(datetime.now(UTC) - timedelta(days=8)) == []

    writer = await store.open(CALL)
    writer.write(b"\1\0" * 160, b"\2\0" * 160)
    await writer.discard()
    assert not (tmp_path / f"{CALL}.wav").exists()
