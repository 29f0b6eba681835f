"""Batch calls through the API (§4.3 to §4.12), on both backends; the engine does not run here."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant, insert_agent, insert_number
from voxline.storage.db import Database
from voxline.storage.tables import batch_calls, batch_contacts, events, webhook_deliveries

CONTACTS = [
    {"phone_number": "+14155550100", "first_name": "Ann", "timezone": "America/New_York"},
    {"phone_number": "+1 212 555 0100", "custom_fields": {"plan": "gold"}},
]


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
    return agent


async def create(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, **body: Any
) -> httpx.Response:
    payload = {"name": "Spring promo", "agent_id": agent_id, "contacts": CONTACTS, **body}
    return await client.post(f"{API}/batch-calls", json=payload, headers=tenant.headers)


async def created(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, **body: Any
) -> dict[str, Any]:
    response = await create(client, tenant, agent_id, **body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def act(
    client: httpx.AsyncClient, tenant: Tenant, batch_id: str, action: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/batch-calls/{batch_id}/{action}", json=body or None, headers=tenant.headers
    )


async def count_rows(db: Database, table: sa.Table) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def test_create_gives_a_draft_with_every_field_and_its_counters(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    batch = await created(client, tenant, agent_id, start_time="09:00", end_time="17:00")
    assert batch["status"] == "draft"
    assert batch["total_contacts"] == 2 and batch["pending"] == 2
    assert (batch["called"], batch["completed"], batch["failed"]) == (0, 0, 0)
    assert batch["max_concurrent_calls"] == batch["concurrency"] == 10
    assert batch["working_days"] == [1, 2, 3, 4, 5] and batch["timezone"] == "UTC"
    assert len(batch["phone_number_ids"]) == 1
    got = await client.get(f"{API}/batch-calls/{batch['id']}", headers=tenant.headers)
    assert got.json()["data"] == batch


async def test_contacts_come_inline_by_id_and_from_a_folder_once_per_number(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    folder = await client.post(
        f"{API}/contacts/folders", json={"name": "Leads"}, headers=tenant.headers
    )
    folder_id = folder.json()["data"]["id"]
    ids = []
    for phone in ("+14155550100", "+13125550100", "+13125550101"):
        added = await client.post(
            f"{API}/contacts",
            json={"phone_number": phone, "folder_id": folder_id},
            headers=tenant.headers,
        )
        ids.append(added.json()["data"]["id"])
    batch = await created(
        client,
        tenant,
        agent_id,
        contact_source="folder",
        contact_folder_id=folder_id,
        contact_ids=ids[:1],
    )
    # Two inline, three in the folder, one by id; +14155550100 appears three times.
    assert batch["total_contacts"] == 4
    listed = await client.get(f"{API}/batch-calls/{batch['id']}/contacts", headers=tenant.headers)
    body = listed.json()
    assert body["pagination"]["total"] == 4
    first = next(c for c in body["data"] if c["phone_number"] == "+14155550100")
    assert first["phone_number"] == "+14155550100" and first["first_name"] == "Ann"
    assert first["call_status"] == "pending" and first["attempts"] == 0


INVALID = [
    ({"contact_source": "folder"}, "contact_folder_id"),
    ({"schedule_type": "scheduled"}, "scheduled_at"),
    ({"start_time": "17:00", "end_time": "09:00"}, "end_time"),
    ({"start_time": "09:00"}, "end_time"),
    ({"working_days": [0]}, "working_days"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"contacts": [{"phone_number": "12"}]}, "contacts[0].phone_number"),
    ({"calls_per_second": 0}, "calls_per_second"),
    ({"retry_policy": {"declined": {"max": 1}}}, "retry_policy"),
    ({"max_concurrent_calls": 101}, "max_concurrent_calls"),
]


async def test_invalid_creates_write_nothing(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, db: Database
) -> None:
    for body, field in INVALID:
        response = await create(client, tenant, agent_id, **body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert field in str(error["details"]) or field in error["message"], error
    assert await count_rows(db, batch_calls) == 0
    assert (
        await create(client, tenant, agent_id, start_time="09:00", end_time="17:00")
    ).status_code == 201


async def test_a_create_that_fails_late_leaves_no_half_batch(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, db: Database
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    response = await create(client, tenant, agent_id, contact_ids=[unknown])
    assert response.status_code == 404, response.text
    assert response.json()["error"]["details"]["contact_id"] == unknown
    assert await count_rows(db, batch_calls) == 0
    assert await count_rows(db, batch_contacts) == 0


async def test_unknown_agents_and_agents_without_numbers_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    missing = await create(client, tenant, "00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    bare = await insert_agent(db, tenant.org_id)
    no_number = await create(client, tenant, bare)
    assert no_number.status_code == 422
    assert no_number.json()["error"]["details"]["reason"] == "no_phone_number_configured"


async def test_create_is_idempotent(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, db: Database
) -> None:
    payload = {"name": "Once", "agent_id": agent_id, "contacts": CONTACTS}
    headers = {**tenant.headers, "X-Idempotency-Key": "batch-1"}
    first = await client.post(f"{API}/batch-calls", json=payload, headers=headers)
    again = await client.post(f"{API}/batch-calls", json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["data"]["id"] == again.json()["data"]["id"]
    other = await client.post(
        f"{API}/batch-calls", json={**payload, "name": "Twice"}, headers=headers
    )
    assert other.status_code == 409
    assert await count_rows(db, batch_calls) == 1


async def test_other_organizations_batches_are_invisible(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, agent_id: str
) -> None:
    batch = await created(client, tenant, agent_id)
    path = f"{API}/batch-calls/{batch['id']}"
    for method, suffix in [
        ("GET", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("GET", "/contacts"),
        ("GET", "/analytics"),
    ]:
        body = {"name": "x"} if method == "PATCH" else None
        response = await client.request(
            method, path + suffix, json=body, headers=other_tenant.headers
        )
        assert response.status_code == 404, (method, suffix, response.text)
    listed = await client.get(f"{API}/batch-calls", headers=other_tenant.headers)
    assert listed.json()["data"] == []
    mine = await client.get(f"{API}/batch-calls", headers=tenant.headers)
    assert [b["id"] for b in mine.json()["data"]] == [batch["id"]]


async def test_the_lifecycle_and_its_events(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, db: Database
) -> None:
    batch = await created(client, tenant, agent_id)
    batch_id = batch["id"]
    assert (await act(client, tenant, batch_id, "pause")).status_code == 409
    scheduled = await act(client, tenant, batch_id, "schedule", timezone="Europe/Paris")
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["data"]["status"] == "scheduled"
    assert scheduled.json()["data"]["timezone"] == "Europe/Paris"
    paused = await act(client, tenant, batch_id, "pause")
    assert paused.json()["data"]["status"] == "paused" and paused.json()["data"]["paused_at"]
    again = await act(client, tenant, batch_id, "pause")
    assert again.status_code == 200 and again.json()["data"]["status"] == "paused"
    resumed = await act(client, tenant, batch_id, "resume")
    assert resumed.status_code == 201
    assert resumed.json()["data"]["status"] == "active"  # its start (now) has passed
    assert (
        await client.delete(f"{API}/batch-calls/{batch_id}", headers=tenant.headers)
    ).status_code == 409
    cancelled = await act(client, tenant, batch_id, "cancel")
    assert cancelled.json()["data"]["status"] == "cancelled"
    assert (await act(client, tenant, batch_id, "resume")).status_code == 409
    contacts = await client.get(
        f"{API}/batch-calls/{batch_id}/contacts",
        params={"status": "cancelled"},
        headers=tenant.headers,
    )
    assert contacts.json()["pagination"]["total"] == 2
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(events.c.type, events.c.payload).order_by(events.c.created_at)
            )
        ).all()
    changes = [
        (r.payload["previous_status"], r.payload["status"])
        for r in rows
        if r.type == "batch.status.changed"
    ]
    assert changes == [
        ("draft", "scheduled"),
        ("scheduled", "paused"),
        ("paused", "active"),
        ("active", "cancelled"),
    ]
    assert all(r.payload["batch_id"] == batch_id for r in rows if r.type.startswith("batch."))
    deleted = await client.delete(f"{API}/batch-calls/{batch_id}", headers=tenant.headers)
    assert deleted.status_code == 200
    assert await count_rows(db, batch_contacts) == 0


async def test_a_start_given_at_creation_is_kept_and_resume_waits_for_it(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    start = "2099-01-05T09:00:00Z"
    batch = await created(client, tenant, agent_id, schedule_type="scheduled", scheduled_at=start)
    scheduled = await act(client, tenant, batch["id"], "schedule")
    assert scheduled.json()["data"]["scheduled_at"].startswith("2099-01-05T09:00:00")
    await act(client, tenant, batch["id"], "pause")
    resumed = await act(client, tenant, batch["id"], "resume")
    assert resumed.json()["data"]["status"] == "scheduled"  # the start is still ahead


async def test_schedule_needs_contacts(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    batch = await created(client, tenant, agent_id, contacts=[])
    refused = await act(client, tenant, batch["id"], "schedule")
    assert refused.status_code == 422
    assert refused.json()["error"]["details"]["reason"] == "no_contacts"


async def test_patch_in_editable_states_only(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    batch = await created(client, tenant, agent_id)
    path = f"{API}/batch-calls/{batch['id']}"
    patched = await client.patch(
        path,
        json={
            "name": "Renamed",
            "concurrency": 3,
            "retry_failed": True,
            "retry_attempts": 2,
            "retry_policy": {"busy": {"max": 3, "delay": 60}},
        },
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert (data["name"], data["max_concurrent_calls"], data["max_retry_attempts"]) == (
        "Renamed",
        3,
        2,
    )
    assert data["retry_policy"] == {"busy": {"max": 3, "delay": 60.0}}
    bad = await client.patch(
        path, json={"end_time": "08:00", "start_time": "09:00"}, headers=tenant.headers
    )
    assert bad.status_code == 422
    for field in ("name", "timezone", "retry_failed"):
        null = await client.patch(path, json={field: None}, headers=tenant.headers)
        assert null.status_code == 422 and null.json()["error"]["details"]["field"] == field
    cleared = await client.patch(path, json={"phone_number_ids": None}, headers=tenant.headers)
    assert cleared.status_code == 200 and len(cleared.json()["data"]["phone_number_ids"]) == 1
    await act(client, tenant, batch["id"], "cancel")
    late = await client.patch(path, json={"name": "Too late"}, headers=tenant.headers)
    assert late.status_code == 409


async def test_adding_contacts_counts_failures(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    batch = await created(client, tenant, agent_id)
    response = await client.post(
        f"{API}/batch-calls/{batch['id']}/contacts",
        json={
            "contacts": [
                {"phone_number": "+16175550100"},
                {"phone_number": "+14155550100"},
                {"phone_number": "nope"},
            ]
        },
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"added_count": 1, "failed_count": 2}
    got = await client.get(f"{API}/batch-calls/{batch['id']}", headers=tenant.headers)
    assert got.json()["data"]["total_contacts"] == 3


async def test_bulk_delete_reports_each_id(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, agent_id: str
) -> None:
    draft = await created(client, tenant, agent_id)
    running = await created(client, tenant, agent_id)
    await act(client, tenant, running["id"], "schedule")
    unknown = "00000000-0000-4000-8000-000000000000"
    response = await client.post(
        f"{API}/batch-calls/bulk-delete",
        json={"ids": [draft["id"], running["id"], unknown]},
        headers=tenant.headers,
    )
    data = response.json()["data"]
    assert data["deleted_ids"] == [draft["id"]]
    assert data["failed_ids"] == [running["id"], unknown]


async def test_analytics_of_a_batch_without_calls(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    batch = await created(client, tenant, agent_id)
    response = await client.get(
        f"{API}/batch-calls/{batch['id']}/analytics", headers=tenant.headers
    )
    data = response.json()["data"]
    assert data["contacts_by_status"] == {"pending": 2}
    assert (data["calls"], data["connected"], data["average_duration_seconds"]) == (0, 0, None)


async def test_list_filters_by_status_and_agent(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    first = await created(client, tenant, agent_id)
    await created(client, tenant, agent_id)
    await act(client, tenant, first["id"], "schedule")
    found = await client.get(
        f"{API}/batch-calls",
        params={"status": "scheduled", "agent_id": agent_id},
        headers=tenant.headers,
    )
    assert [b["id"] for b in found.json()["data"]] == [first["id"]]
    other_agent = await client.get(
        f"{API}/batch-calls",
        params={"agent_id": "00000000-0000-4000-8000-000000000000"},
        headers=tenant.headers,
    )
    assert other_agent.json()["pagination"]["total"] == 0
    bad = await client.get(
        f"{API}/batch-calls", params={"status": "running"}, headers=tenant.headers
    )
    assert bad.status_code == 422


async def test_status_events_reach_subscribed_webhooks_only(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, db: Database
) -> None:
    for types in (["batch.status.changed"], ["call.ended"]):
        hook = await client.post(
            f"{API}/webhooks",
            json={"url": "https://example.com/hooks", "event_types": types},
            headers=tenant.headers,
        )
        assert hook.status_code == 201, hook.text
    batch = await created(client, tenant, agent_id)
    await act(client, tenant, batch["id"], "schedule")
    await act(client, tenant, batch["id"], "cancel")
    assert await count_rows(db, webhook_deliveries) == 2  # two changes, one subscriber
