"""Streaming a recording to S3 as the call runs: parts during the call, part 1 (the header)
last, a lost connection recovered from the spool, failed uploads aborted."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import httpx
import pytest

from tests.emulators.s3 import PART, S3Server
from tests.recordings.conftest import chunks, parts_uploaded, seconds_for
from voxline.recordings.bucket import S3Bucket
from voxline.recordings.s3 import S3Recordings
from voxline.recordings.upload import SpooledUpload, UploadFailed, repair_header
from voxline.voice.recorder import CallRecorder

CALL = "0b0e7a4c-33a1-4d43-9a8e-3d2f1f6d3c01"


def reference(tmp_path: Path, seconds: int) -> bytes:
    """The same audio recorded on local disk, as Voxline always has."""
    with CallRecorder(tmp_path / "local", CALL) as recorder:
        for agent, contact in chunks(seconds):
            recorder.write(agent, contact)
    return recorder.path.read_bytes()


async def download(store: S3Recordings, location: str) -> bytes:
    url = await store.download_url(location, f"{CALL}.wav")
    assert url is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    return response.content


async def test_parts_go_up_during_the_call_and_the_object_equals_the_local_recording(
    s3: S3Server, tmp_path: Path
) -> None:
    store = S3Recordings(s3.config(s3.new_bucket()), tmp_path / "spool", waits=())
    seconds = seconds_for(12)  # parts 1 and 2 full, a short part 3
    writer = await store.open(CALL)
    upload = writer.upload
    for second, (agent, contact) in enumerate(chunks(seconds)):
        writer.write(agent, contact)
        if second == seconds_for(10.5):
            await parts_uploaded(upload, 2)
            assert 1 not in upload.etags  # the header's part waits for the final length

    location = await writer.finish()

    assert location == f"s3://{store.config.bucket}/calls/{CALL}.wav"
    body = await download(store, location)
    assert body == reference(tmp_path, seconds)
    assert len(body) > 2 * PART
    assert not upload.spool.exists()  # removed once the object is complete
    assert await store.bucket.incomplete_uploads(upload.key) == []


async def test_a_short_call_is_one_part_and_a_discarded_one_leaves_nothing(
    s3: S3Server, tmp_path: Path
) -> None:
    store = S3Recordings(s3.config(s3.new_bucket()), tmp_path / "spool", waits=())
    writer = await store.open(CALL)
    for agent, contact in chunks(3):
        writer.write(agent, contact)
    location = await writer.finish()
    assert await download(store, location) == reference(tmp_path, 3)

    other = await store.open("1b0e7a4c-33a1-4d43-9a8e-3d2f1f6d3c02")
    for agent, contact in chunks(seconds_for(11)):
        other.write(agent, contact)
    await parts_uploaded(other.upload, 2)
    await other.discard()

    assert await store.download_url(other.location, "x.wav") is None
    assert await store.bucket.incomplete_uploads(other.upload.key) == []
    assert not other.upload.spool.exists()


async def test_an_upload_cut_mid_call_resumes_the_same_multipart_upload(
    s3: S3Server, tmp_path: Path
) -> None:
    store = S3Recordings(s3.config(s3.new_bucket()), tmp_path / "spool", waits=())
    seconds = seconds_for(17)
    writer = await store.open(CALL)
    upload = writer.upload
    for second, (agent, contact) in enumerate(chunks(seconds)):
        writer.write(agent, contact)
        await asyncio.sleep(0)  # the call's other work: the pump runs meanwhile
        if second == seconds_for(10.5):
            await parts_uploaded(upload, 2)
            first_upload = upload.upload_id
            s3.stop()  # the connection is lost while part 3 fills up
    for _ in range(1000):  # part 3 was complete at 15 MiB: the pump tried it, and failed
        if upload.failed_rounds:
            break
        await asyncio.sleep(0.01)
    assert upload.failed_rounds == 1
    assert sorted(upload.etags) == [2]

    s3.start()
    location = await writer.finish()

    assert upload.upload_id == first_upload  # resumed, not started over
    assert await download(store, location) == reference(tmp_path, seconds)
    assert not upload.spool.exists()


async def test_a_store_down_at_the_end_keeps_the_spool_until_a_later_upload(
    s3: S3Server, tmp_path: Path
) -> None:
    store = S3Recordings(s3.config(s3.new_bucket()), tmp_path / "spool", waits=(0.0,))
    seconds = seconds_for(11)
    writer = await store.open(CALL)
    for agent, contact in chunks(seconds):
        writer.write(agent, contact)
    await parts_uploaded(writer.upload, 2)
    s3.stop()

    location = await writer.finish()  # fails twice, keeps the spool, does not raise

    spool = writer.upload.spool
    assert spool.exists()
    assert await store.local_file(location) == spool  # served from here meanwhile
    assert await store.upload_spooled(stale_seconds=3600) == []  # a fresh spool may be live
    assert spool.exists()

    s3.start()
    # The first upload could not be aborted while the store was down: still open.
    assert len(await store.bucket.incomplete_uploads(writer.upload.key)) == 1
    assert await store.upload_spooled(stale_seconds=0) == [location]

    assert not spool.exists()
    assert await store.local_file(location) is None
    assert await download(store, location) == reference(tmp_path, seconds)
    assert await store.bucket.incomplete_uploads(writer.upload.key) == []


async def test_a_refused_upload_is_aborted_and_its_spool_kept(s3: S3Server, tmp_path: Path) -> None:
    # Parts below S3's 5 MiB minimum: the store refuses to complete (EntityTooSmall).
    bucket = S3Bucket(s3.config(s3.new_bucket(), part=1024 * 1024))
    recorder = CallRecorder(tmp_path / "spool", CALL)
    upload = SpooledUpload.streaming(bucket, f"calls/{CALL}.wav", recorder, waits=(0.0,))
    for agent, contact in chunks(seconds_for(3)):
        upload.write(agent, contact)
    await parts_uploaded(upload, 2)
    upload_id = upload.upload_id
    assert upload_id is not None

    with pytest.raises(UploadFailed, match="EntityTooSmall"):
        await upload.finish()

    assert await bucket.incomplete_uploads(upload.key) == []  # aborted: its parts freed
    assert recorder.path.exists()
    assert not await bucket.exists(upload.key)


def test_a_crashed_recorders_header_is_repaired(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path, CALL)
    for agent, contact in chunks(2):
        recorder.write(agent, contact)
    recorder.flush()  # never closed: the header counts the first flush's frames only
    with wave.open(str(recorder.path)) as broken:
        assert broken.getnframes() < 2 * 16000

    repair_header(recorder.path)

    with wave.open(str(recorder.path)) as repaired:
        assert repaired.getnframes() == 2 * 16000
        assert repaired.getnchannels() == 2
    recorder.close()
