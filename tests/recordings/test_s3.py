"""The S3 recording store: presigned downloads, bounded memory, listing and deleting."""

from __future__ import annotations

import asyncio
import datetime as dt
import tracemalloc
from pathlib import Path

import httpx
import pytest

from tests.emulators.s3 import PART, SECRET_KEY, S3Process, S3Server, verify_presigned
from tests.recordings.conftest import chunks, seconds_for
from voxline.config import load_settings
from voxline.errors import ProviderError
from voxline.recordings import LocalRecordings, S3Config, S3Recordings, s3_config, stores_for

CALL = "2c0e7a4c-33a1-4d43-9a8e-3d2f1f6d3c03"


async def recorded(store: S3Recordings, call_id: str = CALL, seconds: int = 2) -> str:
    writer = await store.open(call_id)
    for agent, contact in chunks(seconds):
        writer.write(agent, contact)
    return await writer.finish()


async def test_a_presigned_url_is_signed_with_the_key_and_expires(
    s3: S3Server, tmp_path: Path
) -> None:
    store = S3Recordings(s3.config(s3.new_bucket()), tmp_path, waits=())
    location = await recorded(store)

    url = await store.download_url(location, f"{CALL}.wav")

    assert url is not None
    assert "X-Amz-Expires=120" in url
    assert verify_presigned(url, SECRET_KEY)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=180)
    assert not verify_presigned(url, SECRET_KEY, now=later)  # past its expiry
    assert not verify_presigned(url, "another-secret")
    assert not verify_presigned(url.replace(CALL, CALL[::-1]), SECRET_KEY)  # another object
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"


async def test_a_missing_object_or_a_foreign_location_has_no_url(
    s3: S3Server, tmp_path: Path
) -> None:
    store = S3Recordings(s3.config(s3.new_bucket()), tmp_path, waits=())
    location = await recorded(store)
    assert await store.download_url(location, "a.wav") is not None

    await store.delete(location)
    await store.delete(location)  # a missing object is no error

    assert await store.download_url(location, "a.wav") is None
    assert not store.owns(f"s3://another-bucket/calls/{CALL}.wav")
    assert not store.owns(f"s3://{store.config.bucket}/elsewhere/{CALL}.wav")
    assert not store.owns(f"{CALL}.wav")
    assert await store.download_url(f"s3://another-bucket/calls/{CALL}.wav", "a.wav") is None


async def test_older_than_lists_only_recordings_written_before_the_cutoff(
    s3: S3Server, tmp_path: Path
) -> None:
    store = S3Recordings(s3.config(s3.new_bucket()), tmp_path, waits=())
    location = await recorded(store)
    now = dt.datetime.now(dt.UTC)

    assert await store.older_than(now + dt.timedelta(minutes=5)) == [location]
    assert await store.older_than(now - dt.timedelta(minutes=5)) == []


async def test_an_unreachable_store_fails_as_a_retryable_provider_error(tmp_path: Path) -> None:
    config = S3Server().config("absent")  # a port nothing listens on
    store = S3Recordings(config, tmp_path, waits=())

    with pytest.raises(ProviderError) as failed:
        await store.older_than(dt.datetime.now(dt.UTC))

    assert failed.value.retryable is True
    assert failed.value.provider == "s3"
    assert SECRET_KEY not in str(failed.value) and SECRET_KEY not in repr(config)


async def test_a_call_holds_about_one_part_in_memory(tmp_path: Path) -> None:
    """tracemalloc counts this process's allocations; the store runs in a child process, so
    they are the recorder's, the pump's and boto3's. Bound: one part, for a recording of
    more than 3 parts (measured: about 4 MiB with 5 MiB parts, for 16 and for 27 MiB)."""
    server = S3Process()
    server.start()
    try:
        store = S3Recordings(server.config(server.new_bucket()), tmp_path / "spool", waits=())
        await store.bucket.exists("warm-up")  # the client and its service model, built first
        seconds = seconds_for(16)
        tracemalloc.start()
        try:
            writer = await store.open(CALL)
            for agent, contact in chunks(seconds):
                writer.write(agent, contact)
                await asyncio.sleep(0)  # the call's other work: the pump runs meanwhile
            location = await writer.finish()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            # The measure sees a recording held whole (the negative case).
            url = await store.download_url(location, "x.wav")
            assert url is not None
            async with httpx.AsyncClient() as client:
                whole = len((await client.get(url)).content)
            whole_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    finally:
        server.stop()

    assert whole > 3 * PART
    assert peak < PART, f"peak {peak / 2**20:.1f} MiB"
    assert whole_peak > whole
    assert writer.upload.largest_part == PART


def test_settings_select_the_store_and_never_show_the_secret(tmp_path: Path) -> None:
    local = load_settings(data_dir=tmp_path)
    remote = load_settings(
        data_dir=tmp_path,
        recordings_url="s3://voxline-recordings/prod/calls/",
        recordings_s3_endpoint_url="http://127.0.0.1:9000",
        recordings_s3_access_key_id="AKIDEXAMPLE",
        recordings_s3_secret_access_key="wJalrXUtnFEMI",
        recordings_s3_part_mib=16,
    )

    assert isinstance(stores_for(local).current, LocalRecordings)
    assert s3_config(local) is None
    config = s3_config(remote)
    assert config == S3Config(
        bucket="voxline-recordings",
        prefix="prod/calls/",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9000",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="wJalrXUtnFEMI",
        part_bytes=16 * 2**20,
        download_ttl_seconds=300,
    )
    stores = stores_for(remote)
    assert stores is stores_for(remote)  # one client per process and bucket
    assert isinstance(stores.current, S3Recordings)
    assert stores.owner(f"{CALL}.wav") is stores.all[1]  # older recordings on disk still served
    for shown in (repr(remote), str(remote.model_dump()), repr(config), repr(stores)):
        assert "wJalrXUtnFEMI" not in shown
    with pytest.raises(ValueError):
        load_settings(recordings_url="file:///var/recordings")
    with pytest.raises(ValueError):
        load_settings(recordings_url="s3://b/", recordings_s3_part_mib=4)
