"""The telephony API: searching, buying, importing, assigning and releasing numbers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import API
from tests.factories import UNKNOWN_ID, Tenant, insert_agent
from voxline.storage.db import Database

NUMBERS = f"{API}/telephony/numbers"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "fedcba9876543210" * 2
PLIVO_ID = "MA" + "ABCDEFGHIJ01234567"
NUMBER_KEYS = {
    "id",
    "phone_number",
    "provider_type",
    "friendly_name",
    "status",
    "is_managed",
    "credential_id",
    "inbound_agent_id",
    "outbound_agent_id",
    "created_at",
    "updated_at",
}


async def post(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"{NUMBERS}{path}", json=body, headers=tenant.headers)


async def buy(client: httpx.AsyncClient, tenant: Tenant, phone: str) -> dict[str, Any]:
    response = await post(client, tenant, "/purchase", {"phone_number": phone})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    codes = {404: "not_found", 409: "conflict", 422: "validation_error"}
    error = response.json()["error"]
    assert error["code"] == codes[status]
    if field is not None:
        assert error["details"]["field"] == field


# --- import ---------------------------------------------------------------------------------


async def test_import_a_twilio_number(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {
        "phone_number": "+15005550006",
        "provider_type": "twilio",
        "friendly_name": "Front desk",
        "account_sid": SID,
        "auth_token": TOKEN,
    }
    response = await post(client, tenant, "/import", body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert set(data) == NUMBER_KEYS
    assert data["phone_number"] == "+15005550006"
    assert (data["provider_type"], data["friendly_name"]) == ("twilio", "Front desk")
    assert (data["status"], data["is_managed"]) == ("active", False)
    assert uuid.UUID(data["credential_id"])
    assert data["inbound_agent_id"] is data["outbound_agent_id"] is None
    assert data["created_at"].endswith("Z")


@pytest.mark.parametrize(
    "body",
    [
        {"provider_type": "telnyx", "api_key": "KEY01_abc", "connection_id": "1494404757"},
        {"provider_type": "telnyx", "api_key": "KEY01_abc"},
        {"provider_type": "plivo", "auth_id": PLIVO_ID, "auth_token": "MY_AUTH_TOKEN"},
        {"provider_type": "sandbox"},
    ],
)
async def test_import_from_each_provider(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, str]
) -> None:
    response = await post(client, tenant, "/import", {"phone_number": "+15005550006", **body})
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["provider_type"] == body["provider_type"]
    assert (data["credential_id"] is None) == (body["provider_type"] == "sandbox")
    assert data["is_managed"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider_type": "twilio", "account_sid": SID}, "auth_token"),
        ({"provider_type": "twilio", "auth_token": TOKEN}, "account_sid"),
        ({"provider_type": "twilio", "account_sid": "AC12", "auth_token": TOKEN}, "account_sid"),
        ({"provider_type": "twilio", "account_sid": SID, "auth_token": "x" * 32}, "auth_token"),
        (
            {"provider_type": "twilio", "account_sid": SID, "auth_token": TOKEN, "api_key": "KEYa"},
            "api_key",
        ),
        ({"provider_type": "telnyx"}, "api_key"),
        ({"provider_type": "telnyx", "api_key": "sk_123"}, "api_key"),
        ({"provider_type": "telnyx", "api_key": "KEYa", "public_key": "bm9wZQ=="}, "public_key"),
        ({"provider_type": "plivo", "auth_id": "MA123", "auth_token": "t"}, "auth_id"),
        ({"provider_type": "plivo", "auth_id": PLIVO_ID}, "auth_token"),
        ({"provider_type": "sandbox", "auth_token": TOKEN}, "auth_token"),
        ({"provider_type": "custom_sip"}, "provider_type"),
        ({}, "provider_type"),
        ({"provider_type": "sandbox", "phone_number": "415-555-1234"}, "phone_number"),
        ({"provider_type": "sandbox", "phone_number": None}, "phone_number"),
        ({"provider_type": "sandbox", "friendly_name": "x" * 201}, "friendly_name"),
        ({"provider_type": "sandbox", "friendly_name": "nul\u0000"}, "friendly_name"),
        ({"provider_type": "twilio", "account_sid": SID, "auth_token": 7}, "auth_token"),
    ],
)
async def test_import_names_the_wrong_field(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    response = await post(client, tenant, "/import", {"phone_number": "+15005550006", **body})
    assert_error(response, 422, field)
    listed = await client.get(NUMBERS, headers=tenant.headers)
    assert listed.json()["pagination"]["total"] == 0


async def test_import_of_a_number_held_already_conflicts_only_for_its_holder(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await buy(client, tenant, "+14155551000")
    body = {
        "phone_number": "+14155551000",
        "provider_type": "twilio",
        "account_sid": SID,
        "auth_token": TOKEN,
    }
    assert_error(await post(client, tenant, "/import", body), 409)
    refused = await post(client, other_tenant, "/import", body)
    assert_error(refused, 422, "phone_number")
    # Nothing says who holds it, or that anyone does.
    assert "exist" not in refused.text and tenant.org_id not in refused.text
    creds = await client.get(f"{API}/telephony/credentials", headers=other_tenant.headers)
    assert creds.json()["data"] == []


# --- search and purchase --------------------------------------------------------------------


async def test_search_defaults_to_the_sandbox_in_area_code_415(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await post(client, tenant, "/search", {})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) == 20
    assert body["data"][0] == {
        "phone_number": "+14155551000",
        "provider_type": "sandbox",
        "phone_number_type": "local",
        "region_information": [
            {"region_type": "country_code", "region_name": "US"},
            {"region_type": "area_code", "region_name": "415"},
        ],
        "features": ["voice"],
        "cost_information": {"monthly_cost": 0, "currency": "USD"},
    }
    assert body["pagination"] == {
        "page": 1,
        "page_size": 20,
        "total_results": 1000,
        "total_pages": 50,
        "has_more": True,
    }
    assert "request_id" in body["meta"]


async def test_search_pages_through_an_area_code_without_taken_numbers(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await buy(client, other_tenant, "+12125551003")
    body = {"area_code": "212", "page": 2, "page_size": 3, "locality": "New York"}
    response = await post(client, tenant, "/search", body)
    data = response.json()["data"]
    assert [n["phone_number"] for n in data] == ["+12125551004", "+12125551005", "+12125551006"]
    assert response.json()["pagination"]["total_results"] == 999


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"provider_type": "twilio"}, "provider_type", "provider not supported for search"),
        ({"provider_type": "telnyx"}, "provider_type", "provider not supported for search"),
        ({"country_code": "GB"}, "country_code", None),
        ({"country_code": "USA"}, "country_code", None),
        ({"area_code": "015"}, "area_code", None),
        ({"phone_number_type": "pager"}, "phone_number_type", None),
        ({"page": 0}, "page", None),
        ({"page_size": 0}, "page_size", None),
        ({"page_size": 101}, "page_size", None),
    ],
)
async def test_search_refuses_what_it_cannot_answer(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str, reason: str | None
) -> None:
    response = await post(client, tenant, "/search", body)
    assert_error(response, 422, field)
    if reason is not None:
        assert response.json()["error"]["details"]["reason"] == reason


async def test_purchase_a_sandbox_number(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await post(
        client, tenant, "/purchase", {"phone_number": "+14155551234", "provider_type": "sandbox"}
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert set(data) == NUMBER_KEYS
    assert (data["phone_number"], data["is_managed"], data["credential_id"]) == (
        "+14155551234",
        True,
        None,
    )
    search = await post(client, tenant, "/search", {"page_size": 100, "page": 3})
    assert "+14155551234" not in [n["phone_number"] for n in search.json()["data"]]


async def test_purchase_of_a_taken_number_conflicts_only_for_its_holder(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await buy(client, tenant, "+14155551000")
    body = {"phone_number": "+14155551000"}
    assert_error(await post(client, tenant, "/purchase", body), 409)
    refused = await post(client, other_tenant, "/purchase", body)
    assert_error(refused, 422, "phone_number")
    assert "exist" not in refused.text and tenant.org_id not in refused.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone_number": "+14155550100"}, "phone_number"),
        ({"phone_number": "+442071234567"}, "phone_number"),
        ({"phone_number": "+1415555123"}, "phone_number"),
        ({"phone_number": "14155551234"}, "phone_number"),
        ({}, "phone_number"),
        ({"phone_number": "+14155551234", "provider_type": "twilio"}, "provider_type"),
        ({"phone_number": "+14155551234", "provider_type": "acme"}, "provider_type"),
    ],
)
async def test_purchase_refuses_what_the_sandbox_does_not_sell(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    assert_error(await post(client, tenant, "/purchase", body), 422, field)


# --- list -----------------------------------------------------------------------------------


async def test_list_is_newest_first_with_pagination(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for line in range(1000, 1003):
        await buy(client, tenant, f"+1415555{line}")
    response = await client.get(NUMBERS, params={"limit": 2}, headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert [n["phone_number"] for n in body["data"]] == ["+14155551002", "+14155551001"]
    assert body["pagination"] == {"total": 3, "limit": 2, "offset": 0, "has_more": True}
    rest = await client.get(NUMBERS, params={"limit": 2, "offset": 2}, headers=tenant.headers)
    assert [n["phone_number"] for n in rest.json()["data"]] == ["+14155551000"]
    assert rest.json()["pagination"]["has_more"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"offset": -1}, "offset")],
)
async def test_list_rejects_bad_paging(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, int], field: str
) -> None:
    response = await client.get(NUMBERS, params=params, headers=tenant.headers)
    assert_error(response, 422, field)


async def test_telephony_needs_an_api_key(client: httpx.AsyncClient) -> None:
    assert (await client.get(NUMBERS)).status_code == 401
    assert (await client.post(f"{NUMBERS}/search", json={})).status_code == 401


# --- assign, unassign, agent numbers ---------------------------------------------------------


async def test_assign_moves_a_number_and_agent_numbers_reflect_it(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    ava, bob = await insert_agent(db, tenant.org_id), await insert_agent(db, tenant.org_id)
    number = await buy(client, tenant, "+14155551000")
    for agent, direction in ((ava, "inbound"), (ava, "outbound"), (bob, "inbound")):
        body = {"number_id": number["id"], "agent_id": agent, "assignment_type": direction}
        response = await post(client, tenant, "/assign", body)
        assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["inbound_agent_id"], data["outbound_agent_id"]) == (bob, ava)
    ava_numbers = await client.get(f"{API}/telephony/agents/{ava}/numbers", headers=tenant.headers)
    bob_numbers = await client.get(f"{API}/telephony/agents/{bob}/numbers", headers=tenant.headers)
    assert ava_numbers.status_code == 200
    assert [n["id"] for n in ava_numbers.json()["data"]["inbound"]] == []
    assert [n["id"] for n in ava_numbers.json()["data"]["outbound"]] == [number["id"]]
    assert [n["id"] for n in bob_numbers.json()["data"]["inbound"]] == [number["id"]]
    assert set(bob_numbers.json()["data"]["inbound"][0]) == NUMBER_KEYS


async def test_unassign_clears_one_direction(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    ava = await insert_agent(db, tenant.org_id)
    number = await buy(client, tenant, "+14155551000")
    for direction in ("inbound", "outbound"):
        body = {"number_id": number["id"], "agent_id": ava, "assignment_type": direction}
        await post(client, tenant, "/assign", body)
    response = await post(
        client, tenant, "/unassign", {"number_id": number["id"], "assignment_type": "inbound"}
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["inbound_agent_id"], data["outbound_agent_id"]) == (None, ava)


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"number_id": str(uuid.uuid4())}, 404, None),
        ({"agent_id": str(uuid.uuid4())}, 404, None),
        ({"assignment_type": "both"}, 422, "assignment_type"),
        ({"assignment_type": None}, 422, "assignment_type"),
        ({"number_id": "num_123"}, 422, "number_id"),
        ({"agent_id": None}, 422, "agent_id"),
    ],
)
async def test_assign_errors(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    change: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    ava = await insert_agent(db, tenant.org_id)
    number = await buy(client, tenant, "+14155551000")
    body = {"number_id": number["id"], "agent_id": ava, "assignment_type": "inbound", **change}
    assert_error(await post(client, tenant, "/assign", body), status, field)
    listed = await client.get(NUMBERS, headers=tenant.headers)
    assert listed.json()["data"][0]["inbound_agent_id"] is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"number_id": str(uuid.uuid4()), "assignment_type": "inbound"}, 404, None),
        ({"number_id": str(uuid.uuid4())}, 422, "assignment_type"),
        ({"assignment_type": "outbound"}, 422, "number_id"),
    ],
)
async def test_unassign_errors(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], status: int, field: str | None
) -> None:
    assert_error(await post(client, tenant, "/unassign", body), status, field)


@pytest.mark.parametrize("agent_id", [UNKNOWN_ID, "not-a-uuid", "1" * 60])
async def test_numbers_of_an_unknown_agent_are_not_found(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    response = await client.get(
        f"{API}/telephony/agents/{agent_id}/numbers", headers=tenant.headers
    )
    assert_error(response, 404)


# --- release --------------------------------------------------------------------------------


async def test_release_removes_the_number_and_frees_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    number = await buy(client, tenant, "+14155551000")
    response = await client.delete(f"{NUMBERS}/{number['id']}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"id": number["id"], "released": True}
    assert (await client.get(NUMBERS, headers=tenant.headers)).json()["data"] == []
    search = await post(client, tenant, "/search", {"page_size": 1})
    assert search.json()["data"][0]["phone_number"] == "+14155551000"
    again = await client.delete(f"{NUMBERS}/{number['id']}", headers=tenant.headers)
    assert_error(again, 404)


async def test_release_of_an_imported_number_keeps_its_credential(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = {"phone_number": "+15005550006", "provider_type": "twilio"}
    number = (
        await post(client, tenant, "/import", {**body, "account_sid": SID, "auth_token": TOKEN})
    ).json()["data"]
    response = await client.delete(f"{NUMBERS}/{number['id']}", headers=tenant.headers)
    assert response.status_code == 200
    creds = await client.get(f"{API}/telephony/credentials", headers=tenant.headers)
    assert [c["id"] for c in creds.json()["data"]] == [number["credential_id"]]


@pytest.mark.parametrize("number_id", [UNKNOWN_ID, "not-a-uuid", "x" * 80])
async def test_release_of_an_unknown_number_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, number_id: str
) -> None:
    assert_error(await client.delete(f"{NUMBERS}/{number_id}", headers=tenant.headers), 404)


# --- credentials ----------------------------------------------------------------------------


async def test_credentials_list_shows_accounts_without_secrets(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    imports = [
        {"provider_type": "twilio", "account_sid": SID, "auth_token": TOKEN},
        {"provider_type": "telnyx", "api_key": "KEY_telnyx_1"},
        {"provider_type": "twilio", "account_sid": SID, "auth_token": "0" * 32},
    ]
    for line, body in enumerate(imports):
        response = await post(
            client, tenant, "/import", {"phone_number": f"+1500555000{line}", **body}
        )
        assert response.status_code == 201, response.text
    response = await client.get(f"{API}/telephony/credentials", headers=tenant.headers)
    assert response.status_code == 200
    data = response.json()["data"]
    assert [(c["provider_type"], c["account_identifier"]) for c in data] == [
        ("telnyx", None),
        ("twilio", SID),
    ]
    assert set(data[0]) == {
        "id",
        "provider_type",
        "friendly_name",
        "account_identifier",
        "created_at",
        "updated_at",
    }
    assert response.json()["pagination"]["total"] == 2


# --- OpenAPI --------------------------------------------------------------------------------


async def test_openapi_documents_the_telephony_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get(f"{API}/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("/api/public/v1/telephony/numbers", "get"): "200",
        ("/api/public/v1/telephony/numbers/search", "post"): "200",
        ("/api/public/v1/telephony/numbers/purchase", "post"): "201",
        ("/api/public/v1/telephony/numbers/import", "post"): "201",
        ("/api/public/v1/telephony/numbers/assign", "post"): "200",
        ("/api/public/v1/telephony/numbers/unassign", "post"): "200",
        ("/api/public/v1/telephony/numbers/{number_id}", "delete"): "200",
        ("/api/public/v1/telephony/agents/{agent_id}/numbers", "get"): "200",
        ("/api/public/v1/telephony/credentials", "get"): "200",
    }
    for (path, method), success in expected.items():
        responses = paths[path][method]["responses"]
        assert success in responses, (path, method)
        assert {"401", "429", "500"} <= set(responses), (path, method)
    assert "409" in paths["/api/public/v1/telephony/numbers/import"]["post"]["responses"]
    assert "404" in paths["/api/public/v1/telephony/numbers/assign"]["post"]["responses"]
    token = spec["components"]["schemas"]["ImportNumberRequest"]["properties"]["auth_token"]
    assert any(t.get("writeOnly") for t in token.get("anyOf", [token]))
