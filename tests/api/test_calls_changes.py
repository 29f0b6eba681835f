"""PATCH /calls/{id}, DELETE /calls/{id} and POST /calls/bulk-delete."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant, insert_agent, insert_call, insert_turn
from voxline.config import Settings
from voxline.storage.db import Database
from voxline.storage.tables import calls, transcript_turns

MISSING = "5b3f1c8e-4a41-4f0e-9a51-2d8a1d0f3c77"


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    return await insert_agent(db, tenant.org_id)


def write_recording(settings: Settings, relative: str) -> Path:
    path = settings.recordings_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")
    return path


async def stored_ids(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(sa.select(calls.c.id))).scalars())


async def turn_count(db: Database, call_id: str) -> int:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).where(transcript_turns.c.call_id == call_id)
        return int((await conn.execute(query)).scalar_one())


async def patch(
    client: httpx.AsyncClient, tenant: Tenant, call_id: str, body: object
) -> httpx.Response:
    return await client.patch(f"{API}/calls/{call_id}", json=body, headers=tenant.headers)


# --- PATCH ---------------------------------------------------------------------------------


async def test_patch_merges_context_and_leaves_settings_alone(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    call_id = await insert_call(
        db, tenant.org_id, agent_id, context={"last_error": "busy line", "priority": "low"}
    )

    response = await patch(client, tenant, call_id, {"context": {"priority": "high", "n": 2}})

    assert response.status_code == 200, response.text
    call = response.json()["data"]
    assert call["context"] == {"last_error": "busy line", "priority": "high", "n": 2}
    assert call["call_settings"]["recording_enabled"] is True
    assert call["call_settings"]["transcription_enabled"] is True


async def test_patch_changes_only_the_given_settings(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, context={"keep": True})

    response = await patch(client, tenant, call_id, {"call_settings": {"recording_enabled": False}})

    assert response.status_code == 200, response.text
    call = response.json()["data"]
    assert call["call_settings"]["recording_enabled"] is False
    assert call["call_settings"]["transcription_enabled"] is True
    assert call["call_settings"]["max_duration"] == "3600s"
    assert call["context"] == {"keep": True}
    again = await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)
    assert again.json()["data"]["call_settings"]["recording_enabled"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"context": None}, "context"),
        ({"call_settings": None, "context": {"b": 2}}, "call_settings"),
        ({"context": {"last_error": "x"}}, "context.last_error"),
        ({"context": {"provider_cause": "x"}}, "context.provider_cause"),
        ({"context": {"batch_id": "x"}}, "context.batch_id"),
        ({"context": "high"}, "context"),
        ({"call_settings": {"greeting": "Hi"}}, "call_settings.greeting"),
        ({"call_settings": {"max_duration": "60s"}}, "call_settings.max_duration"),
        ({"call_settings": {"recording_enabled": "no"}}, "call_settings.recording_enabled"),
        ({"variables": {"a": "b"}}, "variables"),
    ],
)
async def test_invalid_patches_are_rejected_and_change_nothing(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    agent_id: str,
    body: object,
    field: str,
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, context={"a": 1})

    response = await patch(client, tenant, call_id, body)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == field
    call = (await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)).json()["data"]
    assert call["context"] == {"a": 1}


async def test_patching_unknown_or_foreign_calls_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign_agent = await insert_agent(db, other_tenant.org_id)
    foreign = await insert_call(db, other_tenant.org_id, foreign_agent)

    for call_id in (MISSING, "nope", foreign):
        response = await patch(client, tenant, call_id, {"context": {"a": 1}})
        assert response.status_code == 404, call_id


# --- DELETE --------------------------------------------------------------------------------


async def test_delete_removes_an_ended_call_with_its_transcript_and_recording(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant, agent_id: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, recording_path="2026/a.wav")
    recording = write_recording(settings, "2026/a.wav")
    await insert_turn(db, call_id, 0, "agent", "Hello", 0.0)
    kept = await insert_call(db, tenant.org_id, agent_id)

    response = await client.delete(f"{API}/calls/{call_id}", headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["data"] == {"id": call_id, "deleted": True}
    assert await stored_ids(db) == {kept}
    assert await turn_count(db, call_id) == 0
    assert not recording.exists()
    after = await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)
    assert after.status_code == 404


@pytest.mark.parametrize("status", ["queued", "ringing", "in_progress"])
async def test_active_calls_cannot_be_deleted(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, status: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, status=status)

    response = await client.delete(f"{API}/calls/{call_id}", headers=tenant.headers)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert await stored_ids(db) == {call_id}


@pytest.mark.parametrize("status", ["failed", "no_answer", "busy", "voicemail"])
async def test_every_terminal_status_can_be_deleted(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, status: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, status=status)

    response = await client.delete(f"{API}/calls/{call_id}", headers=tenant.headers)

    assert response.status_code == 200
    assert await stored_ids(db) == set()


async def test_deleting_unknown_or_foreign_calls_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign_agent = await insert_agent(db, other_tenant.org_id)
    foreign = await insert_call(db, other_tenant.org_id, foreign_agent)

    for call_id in (MISSING, "nope", foreign):
        response = await client.delete(f"{API}/calls/{call_id}", headers=tenant.headers)
        assert response.status_code == 404, call_id
    assert await stored_ids(db) == {foreign}


# --- bulk delete ---------------------------------------------------------------------------


async def test_bulk_delete_reports_what_was_and_was_not_deleted(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
    agent_id: str,
) -> None:
    ended = await insert_call(db, tenant.org_id, agent_id, recording_path="b.wav")
    recording = write_recording(settings, "b.wav")
    await insert_turn(db, ended, 0, "contact", "Bye", 1.0)
    failed = await insert_call(db, tenant.org_id, agent_id, status="failed")
    active = await insert_call(db, tenant.org_id, agent_id, status="ringing")
    foreign_agent = await insert_agent(db, other_tenant.org_id)
    foreign = await insert_call(db, other_tenant.org_id, foreign_agent)

    response = await client.post(
        f"{API}/calls/bulk-delete",
        json={"ids": [ended, active, MISSING, foreign, failed, ended]},
        headers=tenant.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "deleted_count": 2,
        "failed_count": 3,
        "deleted_ids": [ended, failed],
        "failed_ids": [active, MISSING, foreign],
    }
    assert await stored_ids(db) == {active, foreign}
    assert await turn_count(db, ended) == 0
    assert not recording.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"ids": []},
        {"ids": [MISSING] * 101},
        {"ids": ["not-a-uuid"]},
        {"ids": MISSING},
        {},
    ],
)
async def test_bulk_delete_validates_ids(
    client: httpx.AsyncClient, tenant: Tenant, body: object
) -> None:
    response = await client.post(f"{API}/calls/bulk-delete", json=body, headers=tenant.headers)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"].startswith("ids")
