"""Recordings in an S3 bucket through the API: the same signed Voxline URL, which redirects
to a presigned URL of the object; other organizations' recordings stay 404."""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import API
from tests.emulators.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3, s3_server
from tests.factories import Tenant, insert_agent, insert_call
from tests.recordings.conftest import chunks
from voxline.config import Settings, load_settings
from voxline.recordings import S3Recordings, stores_for
from voxline.storage.db import Database

__all__ = ["s3", "s3_server"]

# The redirect depends on the store, not on the database (the recording queries run on both
# backends in test_recordings.py and the retention tests): one backend keeps this file fast.
pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3: S3Server) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key",
        rate_limit_per_minute=0,
        log_format="console",
        sandbox_mode="text",
        recordings_url=f"s3://{s3.new_bucket()}/recordings",
        recordings_s3_endpoint_url=s3.url,
        recordings_s3_region=REGION,
        recordings_s3_access_key_id=ACCESS_KEY,
        recordings_s3_secret_access_key=SECRET_KEY,
        recordings_s3_download_ttl_seconds=60,
    )


async def recorded_call(db: Database, settings: Settings, tenant: Tenant) -> tuple[str, bytes]:
    """A call whose recording went to the bucket; its id and the recording's bytes."""
    store = stores_for(settings).current
    assert isinstance(store, S3Recordings)
    call_id = str(uuid.uuid4())
    writer = await store.open(call_id)
    for agent, contact in chunks(2):
        writer.write(agent, contact)
    location = await writer.finish()
    agent_id = await insert_agent(db, tenant.org_id)
    await insert_call(db, tenant.org_id, agent_id, id=call_id, recording_path=location)
    async with httpx.AsyncClient() as http:
        url = await store.download_url(location, "x.wav")
        assert url is not None
        return call_id, (await http.get(url)).content


async def signed_path(client: httpx.AsyncClient, tenant: Tenant, call_id: str) -> str:
    response = await client.get(f"{API}/calls/{call_id}/recording", headers=tenant.headers)
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["data"]["recording_url"])
    return f"{url.path}?{url.query}"


async def test_the_signed_url_redirects_to_a_presigned_url_of_the_object(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    call_id, audio = await recorded_call(db, settings, tenant)

    response = await client.get(await signed_path(client, tenant, call_id))

    assert response.status_code == 302
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith(f"{settings.recordings_s3_endpoint_url}/")
    assert "X-Amz-Expires=60" in location
    async with httpx.AsyncClient() as http:
        download = await http.get(location)
    assert download.status_code == 200
    assert download.content == audio and audio.startswith(b"RIFF")


async def test_other_organizations_and_deleted_recordings_are_not_found(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    call_id, _ = await recorded_call(db, settings, tenant)
    path = await signed_path(client, tenant, call_id)

    foreign = await client.get(f"{API}/calls/{call_id}/recording", headers=other_tenant.headers)
    assert foreign.status_code == 404

    deleted = await client.delete(f"{API}/calls/{call_id}", headers=tenant.headers)
    assert deleted.status_code == 200
    store = stores_for(settings).current
    assert isinstance(store, S3Recordings)
    assert not await store.bucket.exists(store.key_for(call_id))  # the object went too
    assert (await client.get(path)).status_code == 404
