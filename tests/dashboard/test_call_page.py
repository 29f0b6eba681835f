"""The call page over HTTP (no browser): a recording the retention policy deleted says so."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.dashboard.test_sessions import _signed_in
from tests.factories import Tenant, insert_agent, insert_call
from voxline.config import Settings
from voxline.services.recording_retention import prune_recordings
from voxline.storage.db import Database
from voxline.storage.types import utcnow

PRUNED = "deleted after the retention period"


async def test_a_pruned_recording_says_it_was_deleted_and_a_missing_one_does_not(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    ended = utcnow() - timedelta(days=10)
    pruned = await insert_call(db, tenant.org_id, agent, recording_path="old.wav", ended_at=ended)
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    (settings.recordings_dir / "old.wav").write_bytes(b"RIFF")
    never = await insert_call(db, tenant.org_id, agent, ended_at=ended)
    retention = settings.model_copy(update={"recordings_retention_days": 7})
    assert (await prune_recordings(db, retention)).deleted == 1
    await _signed_in(client, tenant)

    page = await client.get(f"/dashboard/calls/{pruned}")
    assert page.status_code == 200
    assert PRUNED in page.text
    other = await client.get(f"/dashboard/calls/{never}")
    assert other.status_code == 200
    assert "No recording." in other.text and PRUNED not in other.text
