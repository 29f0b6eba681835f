"""Recording retention: old recordings deleted on disk and in the bucket, the call's
recording then gone (410); recent ones and an unset retention keep everything."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.emulators.s3 import ACCESS_KEY, REGION, SECRET_KEY, S3Server, s3, s3_server
from tests.factories import Tenant, insert_agent, insert_call
from tests.recordings.conftest import chunks
from voxline.config import Settings, load_settings
from voxline.errors import Gone
from voxline.recordings import S3Recordings, stores_for
from voxline.services import call_queries
from voxline.services.recording_retention import prune_recordings, recording_upkeep
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow

__all__ = ["s3", "s3_server"]


def settings_with(tmp_path: Path, database_url: str, s3: S3Server, **extra: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key",
        log_format="console",
        recordings_url=f"s3://{s3.new_bucket()}/rec",
        recordings_s3_endpoint_url=s3.url,
        recordings_s3_region=REGION,
        recordings_s3_access_key_id=ACCESS_KEY,
        recordings_s3_secret_access_key=SECRET_KEY,
        **extra,
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, s3: S3Server) -> Settings:
    return settings_with(tmp_path, database_url, s3, recordings_retention_days=7)


async def call_with_recording(
    db: Database, settings: Settings, tenant: Tenant, *, ended_days_ago: float, local: bool
) -> tuple[str, str]:
    """An ended call with a recording in the bucket (or on disk); its id and location."""
    call_id = str(uuid.uuid4())
    stores = stores_for(settings)
    store = stores.all[1] if local else stores.current
    writer = await store.open(call_id)
    for agent, contact in chunks(1):
        writer.write(agent, contact)
    location = await writer.finish()
    agent_id = await insert_agent(db, tenant.org_id)
    ended = utcnow() - timedelta(days=ended_days_ago)
    await insert_call(
        db, tenant.org_id, agent_id, id=call_id, recording_path=location, ended_at=ended
    )
    return call_id, location


async def recording_path(db: Database, call_id: str) -> str | None:
    async with db.read() as conn:
        path: str | None = (
            await conn.execute(sa.select(calls.c.recording_path).where(calls.c.id == call_id))
        ).scalar_one()
        return path


async def test_old_recordings_are_deleted_on_both_backends_and_recent_ones_kept(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    old_s3, old_object = await call_with_recording(
        db, settings, tenant, ended_days_ago=10, local=False
    )
    old_disk, _ = await call_with_recording(db, settings, tenant, ended_days_ago=8, local=True)
    new_s3, new_object = await call_with_recording(
        db, settings, tenant, ended_days_ago=6, local=False
    )
    new_disk, new_file = await call_with_recording(
        db, settings, tenant, ended_days_ago=1, local=True
    )
    # A file no call points to (its call was deleted), written 30 days ago.
    orphan = settings.recordings_dir / f"{uuid.uuid4()}.wav"
    orphan.write_bytes(b"RIFF")
    month_ago = time.time() - 30 * 86400
    os.utime(orphan, (month_ago, month_ago))
    s3_store = stores_for(settings).current
    assert isinstance(s3_store, S3Recordings)

    report = await prune_recordings(db, settings)

    assert report.deleted == 3 and report.failed == 0
    assert await recording_path(db, old_s3) is None
    assert await recording_path(db, old_disk) is None
    assert not await s3_store.exists(old_object)
    assert not (settings.recordings_dir / f"{old_disk}.wav").exists()
    assert not orphan.exists()
    for call_id in (old_s3, old_disk):
        with pytest.raises(Gone):
            await call_queries.get_recording_url(db, settings, tenant.org_id, call_id)
    # Within the retention: untouched.
    assert await recording_path(db, new_s3) == new_object
    assert await recording_path(db, new_disk) == new_file
    assert await s3_store.exists(new_object)
    assert (settings.recordings_dir / new_file).exists()
    assert await call_queries.get_recording_url(db, settings, tenant.org_id, new_s3)


async def test_without_a_retention_nothing_is_deleted(
    db: Database, tmp_path: Path, database_url: str, s3: S3Server, tenant: Tenant
) -> None:
    settings = settings_with(tmp_path, database_url, s3)
    call_id, location = await call_with_recording(
        db, settings, tenant, ended_days_ago=400, local=False
    )

    report = await recording_upkeep(db, settings)

    assert report.deleted == 0
    assert await recording_path(db, call_id) == location
    store = stores_for(settings).current
    assert isinstance(store, S3Recordings)
    assert await store.exists(location)
