"""Folders and contacts through the API, on both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import API
from tests.factories import Tenant


def assert_invalid(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == field
    return error


async def make_folder(client: httpx.AsyncClient, tenant: Tenant, name: str = "Leads") -> str:
    response = await client.post(
        f"{API}/contacts/folders", json={"name": name}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    folder_id: str = response.json()["data"]["id"]
    return folder_id


async def add(
    client: httpx.AsyncClient, tenant: Tenant, phone: str = "+14155550100", **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/contacts", json={"phone_number": phone, **body}, headers=tenant.headers
    )


# --- folders ----------------------------------------------------------------------------------


async def test_folder_crud_counts_contacts(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(
        f"{API}/contacts/folders",
        json={"name": "Leads", "description": "Q4"},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    folder = created.json()["data"]
    assert folder["name"] == "Leads" and folder["description"] == "Q4"
    assert folder["contact_count"] == 0 and folder["is_default"] is False

    for phone in ("+14155550100", "+14155550101"):
        assert (await add(client, tenant, phone, folder_id=folder["id"])).status_code == 201
    got = await client.get(f"{API}/contacts/folders/{folder['id']}", headers=tenant.headers)
    assert got.json()["data"]["contact_count"] == 2

    patched = await client.patch(
        f"{API}/contacts/folders/{folder['id']}",
        json={"name": "Hot leads", "description": None},
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["name"] == "Hot leads"
    assert patched.json()["data"]["description"] is None

    listed = await client.get(f"{API}/contacts/folders", headers=tenant.headers)
    assert [f["name"] for f in listed.json()["data"]] == ["Hot leads"]
    assert listed.json()["pagination"]["total"] == 1


async def test_deleting_a_folder_deletes_its_contacts_only(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    doomed = await make_folder(client, tenant, "Doomed")
    kept = await make_folder(client, tenant, "Kept")
    await add(client, tenant, "+14155550100", folder_id=doomed)
    await add(client, tenant, "+14155550100", folder_id=kept)

    deleted = await client.delete(f"{API}/contacts/folders/{doomed}", headers=tenant.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"] == {"id": doomed, "deleted": True, "contacts_deleted": 1}
    left = await client.get(f"{API}/contacts", headers=tenant.headers)
    assert [c["folder_id"] for c in left.json()["data"]] == [kept]
    again = await client.delete(f"{API}/contacts/folders/{doomed}", headers=tenant.headers)
    assert again.status_code == 404


async def test_folders_sort_by_name_and_contact_count(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    b = await make_folder(client, tenant, "b")
    await make_folder(client, tenant, "a")
    await add(client, tenant, folder_id=b)
    by_name = await client.get(
        f"{API}/contacts/folders",
        params={"sort_by": "name", "order": "asc"},
        headers=tenant.headers,
    )
    assert [f["name"] for f in by_name.json()["data"]] == ["a", "b"]
    by_count = await client.get(
        f"{API}/contacts/folders", params={"sort_by": "contact_count"}, headers=tenant.headers
    )
    assert [f["name"] for f in by_count.json()["data"]] == ["b", "a"]
    bad = await client.get(
        f"{API}/contacts/folders", params={"sort_by": "size"}, headers=tenant.headers
    )
    assert_invalid(bad, "sort_by")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 256}, "name"), ({"name": 5}, "name")],
)
async def test_folder_name_is_required_and_bounded(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{API}/contacts/folders", json=body, headers=tenant.headers)
    assert_invalid(response, field)


async def test_another_organizations_folder_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    folder = await make_folder(client, tenant)
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{API}/contacts/folders/{folder}",
            json={"name": "x"} if method == "PATCH" else None,
            headers=other_tenant.headers,
        )
        assert response.status_code == 404, (method, response.text)
    response = await add(client, other_tenant, folder_id=folder)
    assert response.status_code == 404
    listed = await client.get(
        f"{API}/contacts", params={"folder_id": folder}, headers=other_tenant.headers
    )
    assert listed.status_code == 404
    mine = await client.get(f"{API}/contacts/folders/{folder}", headers=tenant.headers)
    assert mine.status_code == 200


# --- contacts ---------------------------------------------------------------------------------


async def test_contact_crud_with_aliases(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await add(
        client,
        tenant,
        "+1 (415) 555-0100",
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        company_name="Sunny Co",
        timezone="America/Los_Angeles",
        metadata={"plan": "gold", "seats": 3},
    )
    assert created.status_code == 201, created.text
    contact = created.json()["data"]
    assert contact["phone_number"] == contact["phone"] == "+14155550100"
    assert contact["name"] == "Jane Doe"
    assert contact["custom_fields"] == contact["metadata"] == {"plan": "gold", "seats": 3}
    assert contact["timezone"] == "America/Los_Angeles"
    assert contact["call_count"] == 0 and contact["last_called_at"] is None

    got = await client.get(f"{API}/contacts/{contact['id']}", headers=tenant.headers)
    assert got.json()["data"] == contact

    patched = await client.patch(
        f"{API}/contacts/{contact['id']}",
        json={"last_name": None, "custom_fields": {"plan": "silver"}, "timezone": "Europe/Paris"},
        headers=tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    data = patched.json()["data"]
    assert data["name"] == "Jane" and data["last_name"] is None
    assert data["custom_fields"] == {"plan": "silver"}
    assert data["email"] == "jane@example.com"
    assert data["updated_at"] >= contact["updated_at"]

    deleted = await client.delete(f"{API}/contacts/{contact['id']}", headers=tenant.headers)
    assert deleted.json()["data"] == {"id": contact["id"], "deleted": True}
    gone = await client.get(f"{API}/contacts/{contact['id']}", headers=tenant.headers)
    assert gone.status_code == 404


async def test_a_contact_without_folder_goes_to_the_default_folder(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = (await add(client, tenant, "+14155550100")).json()["data"]
    second = (await add(client, tenant, "+14155550101")).json()["data"]
    theirs = (await add(client, other_tenant, "+14155550100")).json()["data"]
    assert first["folder_id"] == second["folder_id"] != theirs["folder_id"]
    folders = (await client.get(f"{API}/contacts/folders", headers=tenant.headers)).json()
    assert [(f["id"], f["is_default"], f["contact_count"]) for f in folders["data"]] == [
        (first["folder_id"], True, 2)
    ]


async def test_phone_is_unique_per_folder(client: httpx.AsyncClient, tenant: Tenant) -> None:
    leads = await make_folder(client, tenant, "Leads")
    other = await make_folder(client, tenant, "Other")
    assert (await add(client, tenant, "+14155550100", folder_id=leads)).status_code == 201
    duplicate = await add(client, tenant, "+1 415 555 0100", folder_id=leads)
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.json()["error"]["details"]["field"] == "phone_number"
    assert (await add(client, tenant, "+14155550100", folder_id=other)).status_code == 201

    moved = (await add(client, tenant, "+14155550101", folder_id=other)).json()["data"]
    clash = await client.patch(
        f"{API}/contacts/{moved['id']}",
        json={"phone_number": "+14155550100"},
        headers=tenant.headers,
    )
    assert clash.status_code == 409
    into = await client.patch(
        f"{API}/contacts/{moved['id']}", json={"folder_id": leads}, headers=tenant.headers
    )
    assert into.status_code == 200 and into.json()["data"]["folder_id"] == leads


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone_number": "4155550100"}, "phone_number"),
        ({"phone_number": "+1415555010O"}, "phone_number"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"last_name": "x" * 101}, "last_name"),
        ({"email": "not-an-email"}, "email"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"custom_fields": {"a": {"nested": 1}}}, "custom_fields.a"),
        ({"custom_fields": []}, "custom_fields"),
        ({"custom_fields": {}, "metadata": {}}, "metadata"),
        ({"first_name": "a\x00b"}, "first_name"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_invalid_contacts_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        f"{API}/contacts", json={"phone_number": "+14155550100", **body}, headers=tenant.headers
    )
    assert_invalid(response, field)
    listed = await client.get(f"{API}/contacts", headers=tenant.headers)
    assert listed.json()["pagination"]["total"] == 0


async def test_phone_number_is_required(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        f"{API}/contacts", json={"first_name": "Jane"}, headers=tenant.headers
    )
    assert_invalid(response, "phone_number")


async def test_another_organizations_contact_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    contact = (await add(client, tenant)).json()["data"]
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{API}/contacts/{contact['id']}",
            json={"first_name": "x"} if method == "PATCH" else None,
            headers=other_tenant.headers,
        )
        assert response.status_code == 404, (method, response.text)
    assert (
        await client.get(f"{API}/contacts/not-a-uuid", headers=tenant.headers)
    ).status_code == 404
    mine = await client.get(f"{API}/contacts/{contact['id']}", headers=tenant.headers)
    assert mine.json()["data"]["first_name"] is None


async def test_search_matches_name_phone_and_email_in_any_case(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await add(client, tenant, "+14155550100", first_name="Jane", last_name="Doe")
    await add(client, tenant, "+14155550101", email="BOB@Example.com")
    await add(client, tenant, "+442071838750", first_name="Ann_%")
    await add(client, other_tenant, "+14155550102", first_name="Jane")

    async def search(term: str) -> list[str]:
        response = await client.get(
            f"{API}/contacts", params={"search": term}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
        return sorted(c["phone_number"] for c in response.json()["data"])

    assert await search("jane doe") == ["+14155550100"]
    assert await search("JANE") == ["+14155550100"]
    assert await search("bob@example") == ["+14155550101"]
    assert await search("+4420") == ["+442071838750"]
    assert await search("_%") == ["+442071838750"]
    assert await search("nobody") == []


async def test_pagination_by_offset_and_by_page(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for i in range(5):
        assert (await add(client, tenant, f"+1415555010{i}")).status_code == 201

    async def listing(**params: Any) -> dict[str, Any]:
        response = await client.get(f"{API}/contacts", params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = await listing(limit=2)
    assert [c["phone_number"] for c in first["data"]] == ["+14155550104", "+14155550103"]
    assert first["pagination"] == {"total": 5, "limit": 2, "offset": 0, "has_more": True}
    third = await listing(limit=2, page=3)
    assert [c["phone_number"] for c in third["data"]] == ["+14155550100"]
    assert third["pagination"] == {"total": 5, "limit": 2, "offset": 4, "has_more": False}
    assert (await listing(limit=2, offset=2))["data"] == (await listing(limit=2, page=2))["data"]

    both = await client.get(
        f"{API}/contacts", params={"page": 2, "offset": 2}, headers=tenant.headers
    )
    assert_invalid(both, "page")
    for params, field in (
        ({"page": 0}, "page"),
        ({"limit": 101}, "limit"),
        ({"offset": -1}, "offset"),
    ):
        response = await client.get(f"{API}/contacts", params=params, headers=tenant.headers)
        assert_invalid(response, field)
