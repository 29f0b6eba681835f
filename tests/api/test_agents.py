"""The Agents API: create, list, get, update, delete, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import UNKNOWN_ID, Tenant, insert_agent, insert_call, insert_number
from voxline.storage.db import Database
from voxline.storage.tables import agents, calls, phone_numbers

BODY = {"name": "Ava", "system_prompt": "You are Ava, a receptionist for {{company}}."}


async def create(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/agents", json={**BODY, **fields}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def count_agents(db: Database) -> int:
    async with db.read() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(agents))).scalar_one()
        )


def assert_validation_error(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == field


# --- create -----------------------------------------------------------------------------------


async def test_create_fills_in_defaults(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(f"{API}/agents", json=BODY, headers=tenant.headers)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"data", "meta"}
    agent = body["data"]
    assert uuid.UUID(agent["id"])
    assert agent == {
        "id": agent["id"],
        "name": "Ava",
        "description": None,
        "system_prompt": BODY["system_prompt"],
        "greeting": None,
        "model": "scripted",
        "voice_id": None,
        "temperature": 0.3,
        "language_hint": "en-US",
        "recording_enabled": True,
        "dnc_on_request": False,
        "join_timeout": "30s",
        "max_duration": "3600s",
        "status": "active",
        "inbound_phone_numbers": [],
        "outbound_phone_numbers": [],
        "tools": [],
        "created_at": agent["created_at"],
        "updated_at": agent["updated_at"],
    }
    assert agent["created_at"].endswith("Z")
    fetched = await client.get(f"{API}/agents/{agent['id']}", headers=tenant.headers)
    assert fetched.json()["data"] == agent


async def test_create_keeps_every_given_field(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await create(
        client,
        tenant,
        name="  Sales bot  ",
        description="Qualifies leads",
        greeting="Hi {{first_name}}!",
        model="llama3.2",
        voice_id="espeak-en-gb",
        temperature=1,
        language_hint="en-GB",
        recording_enabled=False,
        join_timeout="1.5m",
        max_duration="10m",
        status="draft",
    )

    assert agent["name"] == "Sales bot"
    assert agent["description"] == "Qualifies leads"
    assert agent["greeting"] == "Hi {{first_name}}!"
    assert agent["model"] == "llama3.2"
    assert agent["voice_id"] == "espeak-en-gb"
    assert agent["temperature"] == 1.0
    assert agent["language_hint"] == "en-GB"
    assert agent["recording_enabled"] is False
    assert agent["join_timeout"] == "90s"
    assert agent["max_duration"] == "600s"
    assert agent["status"] == "draft"


async def test_create_defaults_to_the_configured_llm_model(
    app_factory: Any, settings: Any, tenant: Tenant
) -> None:
    configured = settings.model_copy(
        update={"llm_base_url": "http://127.0.0.1:11434/v1", "llm_model": "qwen2.5:0.5b"}
    )
    transport = httpx.ASGITransport(app=app_factory(configured))
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        response = await http.post(f"{API}/agents", json=BODY, headers=tenant.headers)

    assert response.status_code == 201
    assert response.json()["data"]["model"] == "qwen2.5:0.5b"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "bad\u0000name"}, "name"),
        ({"name": None}, "name"),
        ({"system_prompt": ""}, "system_prompt"),
        ({"description": "x" * 1001}, "description"),
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": "0.5"}, "temperature"),
        ({"voice_id": "no-such-voice"}, "voice_id"),
        ({"join_timeout": "0s"}, "join_timeout"),
        ({"join_timeout": "301s"}, "join_timeout"),
        ({"join_timeout": "thirty"}, "join_timeout"),
        ({"max_duration": "5s"}, "max_duration"),
        ({"max_duration": "5h"}, "max_duration"),
        ({"status": "failed"}, "status"),
        ({"language_hint": "English!"}, "language_hint"),
        ({"recording_enabled": "yes"}, "recording_enabled"),
        ({"model": None}, "model"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
async def test_create_rejects_invalid_fields_and_writes_nothing(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, fields: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{API}/agents", json={**BODY, **fields}, headers=tenant.headers)

    assert_validation_error(response, field)
    assert await count_agents(db) == 0


async def test_create_requires_system_prompt(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(f"{API}/agents", json={"name": "Ava"}, headers=tenant.headers)

    assert_validation_error(response, "system_prompt")


# --- idempotent create ------------------------------------------------------------------------


async def test_repeated_idempotency_key_returns_the_first_agent(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "X-Idempotency-Key": "create-ava-1"}

    first = await client.post(f"{API}/agents", json=BODY, headers=headers)
    second = await client.post(f"{API}/agents", json=BODY, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json()["data"] == first.json()["data"]
    assert second.json()["meta"]["request_id"] != first.json()["meta"]["request_id"]
    assert await count_agents(db) == 1


async def test_idempotency_key_with_another_body_is_a_conflict(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "X-Idempotency-Key": "create-ava-2"}
    assert (await client.post(f"{API}/agents", json=BODY, headers=headers)).status_code == 201

    response = await client.post(f"{API}/agents", json={**BODY, "name": "Bob"}, headers=headers)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert await count_agents(db) == 1


async def test_idempotency_keys_are_scoped_to_the_organization(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    for who in (tenant, other_tenant):
        headers = {**who.headers, "X-Idempotency-Key": "shared-key"}
        assert (await client.post(f"{API}/agents", json=BODY, headers=headers)).status_code == 201

    assert await count_agents(db) == 2


async def test_failed_create_is_not_remembered_by_its_key(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "X-Idempotency-Key": "retry-after-fix"}
    bad = await client.post(f"{API}/agents", json={**BODY, "voice_id": "nope"}, headers=headers)
    assert bad.status_code == 422

    good = await client.post(f"{API}/agents", json=BODY, headers=headers)

    assert good.status_code == 201
    assert await count_agents(db) == 1


async def test_concurrent_identical_creates_make_exactly_one_agent(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "X-Idempotency-Key": str(uuid.uuid4())}

    responses = await asyncio.gather(
        *(client.post(f"{API}/agents", json=BODY, headers=headers) for _ in range(20))
    )

    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert await count_agents(db) == 1


async def test_overlong_idempotency_key_is_rejected(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "X-Idempotency-Key": "k" * 256}

    response = await client.post(f"{API}/agents", json=BODY, headers=headers)

    assert_validation_error(response, "X-Idempotency-Key")
    assert await count_agents(db) == 0


# --- list and get -----------------------------------------------------------------------------


async def test_list_is_newest_first_with_pagination(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [
        await insert_agent(db, tenant.org_id, name=f"A{i}", created_at=base + timedelta(hours=i))
        for i in range(3)
    ]

    first = (await client.get(f"{API}/agents?limit=2", headers=tenant.headers)).json()
    rest = (await client.get(f"{API}/agents?limit=2&offset=2", headers=tenant.headers)).json()

    assert [a["id"] for a in first["data"]] == [ids[2], ids[1]]
    assert first["pagination"] == {"total": 3, "limit": 2, "offset": 0, "has_more": True}
    assert [a["id"] for a in rest["data"]] == [ids[0]]
    assert rest["pagination"] == {"total": 3, "limit": 2, "offset": 2, "has_more": False}


async def test_list_breaks_ties_on_creation_time_by_id(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    same = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [await insert_agent(db, tenant.org_id, created_at=same) for _ in range(4)]

    data = (await client.get(f"{API}/agents", headers=tenant.headers)).json()["data"]

    assert [a["id"] for a in data] == sorted(ids, reverse=True)


async def test_list_defaults_to_fifty_per_page(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = (await client.get(f"{API}/agents", headers=tenant.headers)).json()

    assert body["data"] == []
    assert body["pagination"] == {"total": 0, "limit": 50, "offset": 0, "has_more": False}


async def test_list_filters_by_status(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    draft = await insert_agent(db, tenant.org_id, status="draft")
    await insert_agent(db, tenant.org_id, status="active")

    body = (await client.get(f"{API}/agents?status=draft", headers=tenant.headers)).json()

    assert [a["id"] for a in body["data"]] == [draft]
    assert body["pagination"]["total"] == 1


async def test_list_filters_by_name_ignoring_case(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    sales = await insert_agent(db, tenant.org_id, name="Outbound SALES agent")
    await insert_agent(db, tenant.org_id, name="Support")
    percent = await insert_agent(db, tenant.org_id, name="50% off_promo")

    by_name = (await client.get(f"{API}/agents?name=sales", headers=tenant.headers)).json()
    literal = (await client.get(f"{API}/agents?name=%25%20off_", headers=tenant.headers)).json()

    assert [a["id"] for a in by_name["data"]] == [sales]
    assert [a["id"] for a in literal["data"]] == [percent]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=deleted", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("name=%00", "name"),
        (f"name={'n' * 256}", "name"),
    ],
)
async def test_list_rejects_invalid_query(
    client: httpx.AsyncClient, tenant: Tenant, query: str, field: str
) -> None:
    response = await client.get(f"{API}/agents?{query}", headers=tenant.headers)

    assert_validation_error(response, field)


async def test_list_and_get_show_assigned_numbers(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)
    both = await insert_number(
        db, tenant.org_id, "+14155550101", inbound_agent_id=agent_id, outbound_agent_id=agent_id
    )
    outbound = await insert_number(db, tenant.org_id, "+14155550102", outbound_agent_id=agent_id)
    await insert_number(db, tenant.org_id, "+14155550103")

    listed = (await client.get(f"{API}/agents", headers=tenant.headers)).json()["data"][0]
    fetched = (await client.get(f"{API}/agents/{agent_id}", headers=tenant.headers)).json()

    assert listed["inbound_phone_numbers"] == [{"id": both, "phone_number": "+14155550101"}]
    assert listed["outbound_phone_numbers"] == [
        {"id": both, "phone_number": "+14155550101"},
        {"id": outbound, "phone_number": "+14155550102"},
    ]
    assert fetched["data"] == listed


async def test_get_accepts_an_uppercase_id(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)

    response = await client.get(f"{API}/agents/{agent_id.upper()}", headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["data"]["id"] == agent_id


@pytest.mark.parametrize("agent_id", [UNKNOWN_ID, "not-a-uuid", "x" * 5000, "%00"])
async def test_get_unknown_or_malformed_id_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    response = await client.get(f"{API}/agents/{agent_id}", headers=tenant.headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["message"].startswith("Agent not found")


# --- tenant isolation -------------------------------------------------------------------------


async def test_another_organization_cannot_see_change_or_delete_an_agent(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await create(client, tenant)
    url = f"{API}/agents/{agent['id']}"
    patch = {"name": "Hijacked"}

    answers = [
        await client.get(url, headers=other_tenant.headers),
        await client.patch(url, json=patch, headers=other_tenant.headers),
        await client.put(url, json=patch, headers=other_tenant.headers),
        await client.delete(url, headers=other_tenant.headers),
    ]
    listed = (await client.get(f"{API}/agents", headers=other_tenant.headers)).json()

    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert {a.json()["error"]["code"] for a in answers} == {"not_found"}
    assert listed["data"] == []
    assert listed["pagination"]["total"] == 0
    assert (await client.get(url, headers=tenant.headers)).json()["data"] == agent


# --- update -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_update_changes_only_the_fields_sent(
    client: httpx.AsyncClient, tenant: Tenant, method: str
) -> None:
    agent = await create(client, tenant, description="old", voice_id="espeak-en-us")

    response = await client.request(
        method,
        f"{API}/agents/{agent['id']}",
        json={"name": "Ava 2", "join_timeout": "45s", "description": None},
        headers=tenant.headers,
    )

    assert response.status_code == 200
    updated = response.json()["data"]
    assert updated["name"] == "Ava 2"
    assert updated["join_timeout"] == "45s"
    assert updated["description"] is None
    assert updated["updated_at"] > agent["updated_at"]
    unchanged = {"name", "join_timeout", "description", "updated_at"}
    assert {k: v for k, v in updated.items() if k not in unchanged} == {
        k: v for k, v in agent.items() if k not in unchanged
    }
    fetched = await client.get(f"{API}/agents/{agent['id']}", headers=tenant.headers)
    assert fetched.json()["data"] == updated


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": None}, "name"),
        ({"system_prompt": None}, "system_prompt"),
        ({"temperature": None}, "temperature"),
        ({"status": None}, "status"),
        ({"status": "creating"}, "status"),
        ({"voice_id": "no-such-voice"}, "voice_id"),
        ({"max_duration": "1d"}, "max_duration"),
        ({"max_duration": "99999h"}, "max_duration"),
        ({"name": ""}, "name"),
        ({"organization_id": str(uuid.uuid4())}, "organization_id"),
    ],
)
async def test_update_rejects_invalid_fields_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, fields: dict[str, Any], field: str
) -> None:
    agent = await create(client, tenant)
    url = f"{API}/agents/{agent['id']}"

    response = await client.patch(url, json=fields, headers=tenant.headers)

    assert_validation_error(response, field)
    assert (await client.get(url, headers=tenant.headers)).json()["data"] == agent


async def test_update_can_clear_the_voice(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await create(client, tenant, voice_id="piper-en-us-joe")

    response = await client.patch(
        f"{API}/agents/{agent['id']}", json={"voice_id": None}, headers=tenant.headers
    )

    assert response.json()["data"]["voice_id"] is None


@pytest.mark.parametrize("agent_id", [UNKNOWN_ID, "not-a-uuid"])
async def test_update_unknown_agent_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    response = await client.patch(
        f"{API}/agents/{agent_id}", json={"name": "x"}, headers=tenant.headers
    )

    assert response.status_code == 404


# --- delete -----------------------------------------------------------------------------------


async def test_delete_removes_the_agent(client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await create(client, tenant)
    url = f"{API}/agents/{agent['id']}"

    response = await client.delete(url, headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["data"] == {"id": agent["id"], "deleted": True}
    assert (await client.get(url, headers=tenant.headers)).status_code == 404
    assert (await client.delete(url, headers=tenant.headers)).status_code == 404


@pytest.mark.parametrize("status", ["queued", "ringing", "in_progress"])
async def test_delete_is_refused_while_a_call_is_active(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, status: str
) -> None:
    agent = await create(client, tenant)
    await insert_call(db, tenant.org_id, agent["id"], status=status)
    url = f"{API}/agents/{agent['id']}"

    response = await client.delete(url, headers=tenant.headers)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert (await client.get(url, headers=tenant.headers)).status_code == 200


async def test_delete_keeps_the_agents_finished_calls(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent = await create(client, tenant)
    call_id = await insert_call(db, tenant.org_id, agent["id"], status="completed")

    response = await client.delete(f"{API}/agents/{agent['id']}", headers=tenant.headers)

    assert response.status_code == 200
    async with db.read() as conn:
        kept = (await conn.execute(sa.select(calls.c.agent_id).where(calls.c.id == call_id))).one()
    assert kept.agent_id == agent["id"]


async def test_delete_unassigns_the_agents_numbers(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent = await create(client, tenant)
    keep = await create(client, tenant, name="Other")
    both = await insert_number(
        db,
        tenant.org_id,
        "+14155550111",
        inbound_agent_id=agent["id"],
        outbound_agent_id=agent["id"],
    )
    mixed = await insert_number(
        db,
        tenant.org_id,
        "+14155550112",
        inbound_agent_id=keep["id"],
        outbound_agent_id=agent["id"],
    )

    response = await client.delete(f"{API}/agents/{agent['id']}", headers=tenant.headers)

    assert response.status_code == 200
    async with db.read() as conn:
        rows = {
            row.id: (row.inbound_agent_id, row.outbound_agent_id)
            for row in await conn.execute(sa.select(phone_numbers))
        }
    assert rows == {both: (None, None), mixed: (keep["id"], None)}
    kept = await client.get(f"{API}/agents/{keep['id']}", headers=tenant.headers)
    assert kept.json()["data"]["inbound_phone_numbers"] == [
        {"id": mixed, "phone_number": "+14155550112"}
    ]


async def test_delete_malformed_id_is_not_found(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.delete(f"{API}/agents/not-a-uuid", headers=tenant.headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- OpenAPI ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/agents", "get", {"200", "401", "422", "429", "500"}),
        ("/agents", "post", {"201", "400", "401", "409", "422", "429", "500"}),
        ("/agents/{agent_id}", "get", {"200", "401", "404", "429", "500"}),
        ("/agents/{agent_id}", "put", {"200", "400", "401", "404", "422", "429", "500"}),
        ("/agents/{agent_id}", "patch", {"200", "400", "401", "404", "422", "429", "500"}),
        ("/agents/{agent_id}", "delete", {"200", "401", "404", "409", "429", "500"}),
    ],
)
async def test_openapi_documents_the_error_envelope_of_each_agent_route(
    client: httpx.AsyncClient, path: str, method: str, statuses: set[str]
) -> None:
    document = (await client.get(f"{API}/openapi.json")).json()
    responses = document["paths"][f"{API}{path}"][method]["responses"]

    assert statuses <= set(responses)
    for status in statuses - {"200", "201"}:
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}


async def test_dnc_on_request_is_kept_and_changed(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await client.post(
        f"{API}/agents", json={**BODY, "dnc_on_request": True}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    agent = created.json()["data"]
    assert agent["dnc_on_request"] is True
    patched = await client.patch(
        f"{API}/agents/{agent['id']}", json={"dnc_on_request": False}, headers=tenant.headers
    )
    assert patched.json()["data"]["dnc_on_request"] is False
    refused = await client.patch(
        f"{API}/agents/{agent['id']}", json={"dnc_on_request": "yes"}, headers=tenant.headers
    )
    assert_validation_error(refused, "dnc_on_request")
