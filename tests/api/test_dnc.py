"""The do-not-call list through the API, and POST /calls to a listed number."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant, insert_agent, insert_number
from voxline.storage.db import Database
from voxline.storage.tables import calls, dnc_numbers

TO = "+14155550123"


async def listed(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/dnc", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def add(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    return await client.post(f"{API}/dnc", json=body, headers=tenant.headers)


async def test_adding_twice_keeps_one_entry(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    first = await add(client, tenant, phone_number=TO, reason="asked by email")
    assert first.status_code == 201, first.text
    entry = first.json()["data"]
    assert entry["phone_number"] == TO and entry["reason"] == "asked by email"
    second = await add(client, tenant, phone_number="+1 415-555-0123", reason="again")
    assert second.status_code == 200, second.text
    assert second.json()["data"] == entry
    async with db.read() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(dnc_numbers))).scalar()
    assert count == 1


async def test_remove_with_an_encoded_plus(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add(client, tenant, phone_number=TO)
    removed = await client.delete(f"{API}/dnc/%2B14155550123", headers=tenant.headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["data"] == {"phone_number": TO, "deleted": True}
    assert (await listed(client, tenant))["data"] == []
    again = await client.delete(f"{API}/dnc/%2B14155550123", headers=tenant.headers)
    assert again.status_code == 404
    garbage = await client.delete(f"{API}/dnc/not-a-number", headers=tenant.headers)
    assert garbage.status_code == 404


async def test_lists_are_per_organization(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await add(client, tenant, phone_number=TO)
    assert (await listed(client, other_tenant))["data"] == []
    theirs = await client.delete(f"{API}/dnc/%2B14155550123", headers=other_tenant.headers)
    assert theirs.status_code == 404
    assert len((await listed(client, tenant))["data"]) == 1


async def test_list_pages_and_searches(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for i in range(3):
        await add(client, tenant, phone_number=f"+1415555010{i}", reason=f"Reason {i}")
    page = await listed(client, tenant, limit=2)
    assert [e["phone_number"] for e in page["data"]] == ["+14155550102", "+14155550101"]
    assert page["pagination"] == {"total": 3, "limit": 2, "offset": 0, "has_more": True}
    assert [
        e["phone_number"] for e in (await listed(client, tenant, search="reason 1"))["data"]
    ] == ["+14155550101"]
    assert [e["phone_number"] for e in (await listed(client, tenant, search="0100"))["data"]] == [
        "+14155550100"
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phone_number"),
        ({"phone_number": "4155550123"}, "phone_number"),
        ({"phone_number": 14155550123}, "phone_number"),
        ({"phone_number": TO, "reason": "x" * 501}, "reason"),
        ({"phone_number": TO, "extra": 1}, "extra"),
    ],
)
async def test_invalid_entries_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await add(client, tenant, **body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert (await listed(client, tenant))["data"] == []


async def test_csv_import(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add(client, tenant, phone_number="+14155550100")
    content = (
        "Phone,reason\n+14155550100,dup\n+14155550101,complaint\nbad,\n+1 415 555 0101,\n"
        "+14155550102,\n"
    )
    response = await client.post(
        f"{API}/dnc/import",
        files={"file": ("dnc.csv", content.encode(), "text/csv")},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert (result["imported"], result["skipped"], result["errors"]) == (2, 2, 1)
    assert [(e["row"], e["phone"]) for e in result["error_details"]] == [(4, "bad")]
    entries = {e["phone_number"]: e["reason"] for e in (await listed(client, tenant))["data"]}
    assert entries == {"+14155550100": None, "+14155550101": "complaint", "+14155550102": None}


async def test_csv_import_needs_a_file_with_a_phone_column(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    no_column = await client.post(
        f"{API}/dnc/import",
        files={"file": ("dnc.csv", b"number_of_things\n3\n", "text/csv")},
        headers=tenant.headers,
    )
    assert no_column.status_code == 422, no_column.text
    as_json = await client.post(f"{API}/dnc/import", json={"phone": TO}, headers=tenant.headers)
    assert as_json.status_code == 422
    assert as_json.json()["error"]["details"]["field"] == "file"
    assert (await listed(client, tenant))["data"] == []


# --- POST /calls ------------------------------------------------------------------------------


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155550199", outbound_agent_id=agent)
    return agent


async def test_a_call_to_a_listed_number_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, agent_id: str, db: Database
) -> None:
    await add(client, tenant, phone_number=TO)
    refused = await client.post(
        f"{API}/calls", json={"agent_id": agent_id, "phone_number": TO}, headers=tenant.headers
    )
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"] == {"field": "phone_number", "reason": "do_not_call"}
    async with db.read() as conn:
        assert (await conn.execute(sa.select(calls))).first() is None

    other = await client.post(
        f"{API}/calls",
        json={"agent_id": agent_id, "phone_number": "+14155550124"},
        headers=tenant.headers,
    )
    assert other.status_code == 201, other.text
    # Another organization's list does not apply.
    await add(client, other_tenant, phone_number="+14155550125")
    theirs = await client.post(
        f"{API}/calls",
        json={"agent_id": agent_id, "phone_number": "+14155550125"},
        headers=tenant.headers,
    )
    assert theirs.status_code == 201, theirs.text


async def test_a_removed_number_can_be_called_again(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    await add(client, tenant, phone_number=TO)
    await client.delete(f"{API}/dnc/%2B14155550123", headers=tenant.headers)
    created = await client.post(
        f"{API}/calls", json={"agent_id": agent_id, "phone_number": TO}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
