"""The Tools API, and agents' ``tools``, on both backends."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import UNKNOWN_ID, Tenant
from voxline.storage.db import Database
from voxline.storage.tables import agent_tools, tools

SECRET = "Bearer sk-live-0123456789abcdef"
MASK = "********"

DEFINITION: dict[str, Any] = {
    "description": "Look up an order by its number",
    "http": {"baseUrlPattern": "https://shop.example/orders/{order_id}", "httpMethod": "GET"},
    "dynamicParameters": [
        {
            "name": "order_id",
            "location": "PARAMETER_LOCATION_PATH",
            "schema": {"type": "string"},
            "required": True,
        }
    ],
    "staticParameters": [
        {"name": "Authorization", "location": "PARAMETER_LOCATION_HEADER", "value": SECRET},
        {"name": "source", "location": "query", "value": "voxline"},
    ],
    "timeout": "5s",
}
AGENT = {"name": "Ava", "system_prompt": "You are Ava."}


async def create_tool(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    body = {"name": "lookup_order", "definition": DEFINITION, **body}
    response = await client.post(f"{API}/tools", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def create_agent(
    client: httpx.AsyncClient, tenant: Tenant, tools_: list[Any]
) -> httpx.Response:
    return await client.post(
        f"{API}/agents", json={**AGENT, "tools": tools_}, headers=tenant.headers
    )


def assert_invalid(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == field


async def stored_rows(db: Database) -> str:
    """Every tools and agent_tools row, as text."""
    async with db.read() as conn:
        rows = [r._mapping for r in await conn.execute(sa.select(tools))]
        rows += [r._mapping for r in await conn.execute(sa.select(agent_tools))]
    return json.dumps([dict(r) for r in rows], default=str)


# --- create and read --------------------------------------------------------------------------


async def test_create_returns_the_canonical_definition_and_flat_fields(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)

    assert uuid.UUID(tool["id"])
    assert tool["name"] == "lookup_order"
    assert tool["type"] == "http"
    assert tool["description"] == "Look up an order by its number"
    assert tool["url"] == "https://shop.example/orders/{order_id}"
    assert tool["method"] == "GET"
    assert tool["timeout_seconds"] == 5.0
    assert tool["created_at"].endswith("Z")
    assert tool["definition"] == {
        "modelToolName": "lookup_order",
        "description": "Look up an order by its number",
        "http": {"baseUrlPattern": "https://shop.example/orders/{order_id}", "httpMethod": "GET"},
        "dynamicParameters": [
            {"name": "order_id", "location": "path", "schema": {"type": "string"}, "required": True}
        ],
        "staticParameters": [
            {"name": "Authorization", "location": "header", "value": MASK, "secret": True},
            {"name": "source", "location": "query", "value": "voxline"},
        ],
        "automaticParameters": [],
        "timeout": "5s",
        "filler": None,
    }
    fetched = await client.get(f"{API}/tools/{tool['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json()["data"] == tool


async def test_name_defaults_from_model_tool_name(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        f"{API}/tools",
        json={"definition": {"modelToolName": "get_weather", "http": {"url": "https://w.example"}}},
        headers=tenant.headers,
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "get_weather"


async def test_without_name_or_model_tool_name_it_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        f"{API}/tools",
        json={"definition": {"http": {"url": "https://w.example"}}},
        headers=tenant.headers,
    )

    assert_invalid(response, "name")


async def test_a_tool_without_definition_is_a_placeholder(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(f"{API}/tools", json={"name": "Later"}, headers=tenant.headers)

    assert response.status_code == 201, response.text
    tool = response.json()["data"]
    assert tool["definition"] is None
    assert (tool["url"], tool["method"], tool["timeout_seconds"]) == (None, None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "end_call"}, "name"),
        ({"name": "n", "extra": 1}, "extra"),
        ({"name": "Has spaces", "definition": {}}, "definition.modelToolName"),
        ({"name": "n", "definition": {"modelToolName": "bad name!"}}, "definition.modelToolName"),
        ({"name": "n", "definition": {"modelToolName": "send_dtmf"}}, "definition.modelToolName"),
        (
            {
                "name": "n",
                "definition": {
                    "http": {"url": "https://a.example"},
                    "dynamicParameters": [
                        {"name": "a", "location": "body", "schema": {"type": "string"}},
                        {"name": "b", "location": "body", "schema": {"type": "strin"}},
                    ],
                },
            },
            "definition.dynamicParameters[1].schema.type",
        ),
        (
            {
                "name": "n",
                "definition": {
                    "http": {"url": "https://a.example"},
                    "dynamicParameters": [{"name": "a", "location": "cookie", "schema": {}}],
                },
            },
            "definition.dynamicParameters[0].location",
        ),
        (
            {"name": "n", "definition": {"http": {"url": "https://a.example/{id}"}}},
            "definition.http.baseUrlPattern",
        ),
        (
            {"name": "n", "definition": {"http": {"url": "https://a.example"}, "timeout": "121s"}},
            "definition.timeout",
        ),
        (
            {"name": "n", "definition": {"http": {"url": "file:///etc/passwd"}}},
            "definition.http.url",
        ),
        (
            {"name": "n", "definition": {"http": {"url": "https://me:pw@a.example/"}}},
            "definition.http.url",
        ),
    ],
)
async def test_create_refusals_name_the_path(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, body: dict[str, Any], field: str
) -> None:
    response = await client.post(f"{API}/tools", json=body, headers=tenant.headers)

    assert_invalid(response, field)
    async with db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(tools))).scalar() == 0


async def test_idempotent_create_makes_one_tool(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    headers = {**tenant.headers, "X-Idempotency-Key": "tool-1"}
    body = {"name": "lookup_order", "definition": DEFINITION}

    first = await client.post(f"{API}/tools", json=body, headers=headers)
    again = await client.post(f"{API}/tools", json=body, headers=headers)
    other = await client.post(f"{API}/tools", json={**body, "name": "x"}, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json()["data"] == first.json()["data"]
    assert other.status_code == 409
    listing = await client.get(f"{API}/tools", headers=tenant.headers)
    assert listing.json()["pagination"]["total"] == 1


# --- list -------------------------------------------------------------------------------------


async def test_list_pages_newest_first_and_filters_by_name(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    names = ["Orders", "order_status", "Weather", "Calendar"]
    for name in names:
        await client.post(f"{API}/tools", json={"name": name}, headers=tenant.headers)
    await client.post(f"{API}/tools", json={"name": "Orders"}, headers=other_tenant.headers)

    everything = (await client.get(f"{API}/tools", headers=tenant.headers)).json()
    first_page = (
        await client.get(f"{API}/tools", params={"limit": 3}, headers=tenant.headers)
    ).json()
    second_page = (
        await client.get(f"{API}/tools", params={"limit": 3, "offset": 3}, headers=tenant.headers)
    ).json()
    filtered = (
        await client.get(f"{API}/tools", params={"name": "ORDER"}, headers=tenant.headers)
    ).json()
    none = (await client.get(f"{API}/tools", params={"name": "%"}, headers=tenant.headers)).json()

    assert [t["name"] for t in everything["data"]] == names[::-1]
    assert everything["pagination"] == {"total": 4, "limit": 50, "offset": 0, "has_more": False}
    assert [t["name"] for t in first_page["data"]] == ["Calendar", "Weather", "order_status"]
    assert first_page["pagination"]["has_more"] is True
    assert [t["name"] for t in second_page["data"]] == ["Orders"]
    assert sorted(t["name"] for t in filtered["data"]) == ["Orders", "order_status"]
    assert none["data"] == []


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}])
async def test_list_refuses_bad_paging(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, int]
) -> None:
    response = await client.get(f"{API}/tools", params=params, headers=tenant.headers)

    assert response.status_code == 422


# --- update -----------------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)

    renamed = await client.patch(
        f"{API}/tools/{tool['id']}", json={"name": "Orders v2"}, headers=tenant.headers
    )

    assert renamed.status_code == 200, renamed.text
    data = renamed.json()["data"]
    assert data["name"] == "Orders v2"
    assert data["definition"] == tool["definition"]
    assert data["updated_at"] > tool["updated_at"]


async def test_patch_replaces_the_definition_and_the_mask_keeps_the_secret(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Any
) -> None:
    from voxline.services.agent_tools import load_agent_tools

    tool = await create_tool(client, tenant)
    changed = {
        **tool["definition"],
        "timeout": "20s",
        "http": {"url": "https://shop.example/o/{order_id}"},
    }

    response = await client.patch(
        f"{API}/tools/{tool['id']}", json={"definition": changed}, headers=tenant.headers
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["timeout_seconds"] == 20.0
    assert data["url"] == "https://shop.example/o/{order_id}"
    assert data["definition"]["staticParameters"][0]["value"] == MASK
    agent = (await create_agent(client, tenant, [tool["id"]])).json()["data"]
    loaded = await load_agent_tools(db, agent["id"], settings=settings)
    assert loaded.http[0].static_parameters[0].value == SECRET


async def test_patch_with_a_new_secret_replaces_it(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    tool = await create_tool(client, tenant)
    before = await stored_rows(db)
    changed = json.loads(json.dumps(tool["definition"]))
    changed["staticParameters"][0] = {"name": "Authorization", "location": "header", "value": "new"}

    response = await client.patch(
        f"{API}/tools/{tool['id']}", json={"definition": changed}, headers=tenant.headers
    )

    assert response.status_code == 200
    assert response.json()["data"]["definition"]["staticParameters"][0]["value"] == MASK
    assert await stored_rows(db) != before


async def test_a_mask_for_a_secret_never_stored_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    definition = {
        "http": {"url": "https://a.example"},
        "staticParameters": [{"name": "X-Key", "location": "header", "value": MASK}],
    }

    response = await client.post(
        f"{API}/tools", json={"name": "n", "definition": definition}, headers=tenant.headers
    )

    assert_invalid(response, "definition.staticParameters[0].value")


async def test_patch_refusals(client: httpx.AsyncClient, tenant: Tenant) -> None:
    tool = await create_tool(client, tenant)
    url = f"{API}/tools/{tool['id']}"

    assert_invalid(
        await client.patch(url, json={"definition": None}, headers=tenant.headers), "definition"
    )
    assert_invalid(
        await client.patch(url, json={"definition": {"timeout": "5m"}}, headers=tenant.headers),
        "definition.timeout",
    )
    assert_invalid(await client.patch(url, json={"name": "  "}, headers=tenant.headers), "name")
    unchanged = await client.get(url, headers=tenant.headers)
    assert unchanged.json()["data"] == tool


# --- tenancy, delete --------------------------------------------------------------------------


async def test_another_organizations_tool_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)
    url = f"{API}/tools/{tool['id']}"
    headers = other_tenant.headers

    assert (await client.get(url, headers=headers)).status_code == 404
    assert (await client.patch(url, json={"name": "x"}, headers=headers)).status_code == 404
    assert (await client.delete(url, headers=headers)).status_code == 404
    assert (await client.get(url, headers=tenant.headers)).json()["data"]["name"] == tool["name"]


@pytest.mark.parametrize("tool_id", [UNKNOWN_ID, "not-a-uuid"])
async def test_unknown_tool_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, tool_id: str
) -> None:
    response = await client.get(f"{API}/tools/{tool_id}", headers=tenant.headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_delete_removes_an_unused_tool(client: httpx.AsyncClient, tenant: Tenant) -> None:
    tool = await create_tool(client, tenant)

    response = await client.delete(f"{API}/tools/{tool['id']}", headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["data"] == {"id": tool["id"], "deleted": True}
    assert (
        await client.get(f"{API}/tools/{tool['id']}", headers=tenant.headers)
    ).status_code == 404


async def test_delete_of_a_tool_in_use_is_a_conflict(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)
    agent = (await create_agent(client, tenant, [tool["id"]])).json()["data"]

    refused = await client.delete(f"{API}/tools/{tool['id']}", headers=tenant.headers)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert refused.json()["error"]["details"] == {"agents": 1}

    cleared = await client.put(
        f"{API}/agents/{agent['id']}", json={"tools": []}, headers=tenant.headers
    )
    assert cleared.json()["data"]["tools"] == []
    deleted = await client.delete(f"{API}/tools/{tool['id']}", headers=tenant.headers)
    assert deleted.status_code == 200


async def test_the_database_itself_refuses_deleting_a_tool_in_use(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    from sqlalchemy.exc import IntegrityError

    tool = await create_tool(client, tenant)
    await create_agent(client, tenant, [tool["id"]])

    with pytest.raises(IntegrityError):
        async with db.write() as conn:
            await conn.execute(tools.delete().where(tools.c.id == tool["id"]))


async def test_a_tool_in_use_keeps_its_http(client: httpx.AsyncClient, tenant: Tenant) -> None:
    tool = await create_tool(client, tenant)
    await create_agent(client, tenant, [tool["id"]])

    response = await client.patch(
        f"{API}/tools/{tool['id']}",
        json={"definition": {"description": "x"}},
        headers=tenant.headers,
    )

    assert response.status_code == 409


# --- secrets ----------------------------------------------------------------------------------


async def test_secrets_are_sealed_at_rest_and_in_no_response_or_log(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tool = await create_tool(client, tenant)
    agent_response = await create_agent(
        client,
        tenant,
        [
            {
                "tool_id": tool["id"],
                "overrides": {
                    "staticParameters": [{"name": "authorization", "value": SECRET + "2"}]
                },
            }
        ],
    )
    responses = [
        agent_response,
        await client.get(f"{API}/tools", headers=tenant.headers),
        await client.get(f"{API}/tools/{tool['id']}", headers=tenant.headers),
        await client.get(f"{API}/agents", headers=tenant.headers),
        await client.patch(
            f"{API}/tools/{tool['id']}", json={"name": "renamed"}, headers=tenant.headers
        ),
    ]

    assert agent_response.status_code == 201, agent_response.text
    override = agent_response.json()["data"]["tools"][0]["overrides"]["staticParameters"][0]
    assert override == {
        "name": "Authorization",
        "location": "header",
        "value": MASK,
        "secret": True,
    }
    for response in responses:
        assert response.status_code in (200, 201)
        assert "sk-live" not in response.text
    rows = await stored_rows(db)
    assert "sk-live" not in rows
    assert '"sealed"' in rows
    assert "sk-live" not in caplog.text


async def test_a_refused_secret_is_not_echoed(
    client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    definition = {
        "http": {"url": "https://a.example"},
        "staticParameters": [{"name": "X-Key", "location": "header", "value": "sk-live\r\nX: y"}],
    }

    response = await client.post(
        f"{API}/tools", json={"name": "n", "definition": definition}, headers=tenant.headers
    )

    assert_invalid(response, "definition.staticParameters[0].value")
    assert "sk-live" not in response.text
    assert "sk-live" not in caplog.text


# --- agents' tools ----------------------------------------------------------------------------


async def test_agent_tools_by_id_name_and_builtin_round_trip(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)
    placeholder_named = await create_tool(
        client,
        tenant,
        name="Weather lookup",
        definition={"modelToolName": "weather", "http": {"url": "https://w.example"}},
    )
    entries = [
        {"tool_id": tool["id"], "overrides": {"timeout": "2s"}},
        {"name": "weather"},
        "end_call",
        {
            "name": "transfer_call",
            "overrides": {"destinations": [{"to": "+14155550100", "description": "Sales"}]},
        },
        {"name": "leave_voicemail", "overrides": {"message": "Hi {{first_name}}, call us."}},
        {"name": "send_dtmf"},
    ]

    created = await create_agent(client, tenant, entries)

    assert created.status_code == 201, created.text
    agent = created.json()["data"]
    assert agent["tools"] == [
        {"tool_id": tool["id"], "name": "lookup_order", "overrides": {"timeout": "2s"}},
        {"tool_id": placeholder_named["id"], "name": "Weather lookup", "overrides": {}},
        {"tool_id": None, "name": "end_call", "overrides": {}},
        {
            "tool_id": None,
            "name": "transfer_call",
            "overrides": {"destinations": [{"to": "+14155550100", "description": "Sales"}]},
        },
        {
            "tool_id": None,
            "name": "leave_voicemail",
            "overrides": {"message": "Hi {{first_name}}, call us."},
        },
        {"tool_id": None, "name": "send_dtmf", "overrides": {}},
    ]
    fetched = await client.get(f"{API}/agents/{agent['id']}", headers=tenant.headers)
    assert fetched.json()["data"]["tools"] == agent["tools"]


async def test_a_renamed_tool_stays_enabled(client: httpx.AsyncClient, tenant: Tenant) -> None:
    tool = await create_tool(client, tenant)
    agent = (await create_agent(client, tenant, [{"name": "lookup_order"}])).json()["data"]

    await client.patch(f"{API}/tools/{tool['id']}", json={"name": "Orders"}, headers=tenant.headers)

    fetched = await client.get(f"{API}/agents/{agent['id']}", headers=tenant.headers)
    assert fetched.json()["data"]["tools"] == [
        {"tool_id": tool["id"], "name": "Orders", "overrides": {}}
    ]


async def test_update_and_patch_replace_the_tools_and_leave_them_when_absent(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)
    agent = (await create_agent(client, tenant, ["end_call"])).json()["data"]
    url = f"{API}/agents/{agent['id']}"

    put = await client.put(url, json={"tools": [tool["id"], "send_dtmf"]}, headers=tenant.headers)
    renamed = await client.patch(url, json={"name": "Bob"}, headers=tenant.headers)

    assert put.status_code == 200, put.text
    assert [t["name"] for t in put.json()["data"]["tools"]] == ["lookup_order", "send_dtmf"]
    assert renamed.json()["data"]["tools"] == put.json()["data"]["tools"]


async def test_agent_override_mask_keeps_the_stored_override(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, settings: Any
) -> None:
    from voxline.services.agent_tools import load_agent_tools

    tool = await create_tool(client, tenant)
    entry = {
        "tool_id": tool["id"],
        "overrides": {"staticParameters": [{"name": "Authorization", "value": "Bearer other"}]},
    }
    agent = (await create_agent(client, tenant, [entry])).json()["data"]

    resent = await client.put(
        f"{API}/agents/{agent['id']}", json={"tools": agent["tools"]}, headers=tenant.headers
    )

    assert resent.status_code == 200, resent.text
    loaded = await load_agent_tools(db, agent["id"], settings=settings)
    assert loaded.http[0].static_parameters[0].value == "Bearer other"


@pytest.mark.parametrize(
    ("entries", "field"),
    [
        ([{"tool_id": str(uuid.uuid4())}], "tools[0]"),
        (["end_call", {"name": "no_such_tool"}], "tools[1]"),
        (["end_call", "end_call"], "tools[1]"),
        (["transfer_call"], "tools[0].overrides.destinations"),
        (
            [{"name": "transfer_call", "overrides": {"destinations": [{"to": "555-0100"}]}}],
            "tools[0].overrides.destinations[0].to",
        ),
        ([{"name": "leave_voicemail"}], "tools[0].overrides.message"),
        ([{"name": "end_call", "overrides": {"x": 1}}], "tools[0].overrides.x"),
        ("end_call", "tools"),
    ],
)
async def test_agent_tool_refusals_name_the_entry(
    client: httpx.AsyncClient, tenant: Tenant, entries: Any, field: str
) -> None:
    response = await create_agent(client, tenant, entries)

    assert_invalid(response, field)


async def test_the_same_tool_twice_by_id_and_name_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)

    response = await create_agent(client, tenant, [tool["id"], {"name": "lookup_order"}])

    assert_invalid(response, "tools[1]")


async def test_another_organizations_tool_cannot_be_enabled(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    tool = await create_tool(client, other_tenant)

    by_id = await create_agent(client, tenant, [{"tool_id": tool["id"]}])
    by_name = await create_agent(client, tenant, [{"name": "lookup_order"}])

    assert_invalid(by_id, "tools[0]")
    assert_invalid(by_name, "tools[0]")


async def test_a_placeholder_cannot_be_enabled_until_it_has_http(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    placeholder = (
        await client.post(f"{API}/tools", json={"name": "later_tool"}, headers=tenant.headers)
    ).json()["data"]

    refused = await create_agent(client, tenant, [placeholder["id"]])
    await client.patch(
        f"{API}/tools/{placeholder['id']}",
        json={"definition": {"http": {"url": "https://a.example"}}},
        headers=tenant.headers,
    )
    accepted = await create_agent(client, tenant, [placeholder["id"]])

    assert_invalid(refused, "tools[0]")
    assert accepted.status_code == 201, accepted.text


async def test_a_static_override_must_name_a_parameter_of_the_tool(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    tool = await create_tool(client, tenant)
    entry = {"tool_id": tool["id"], "overrides": {"staticParameters": [{"name": "x", "value": 1}]}}

    response = await create_agent(client, tenant, [entry])

    assert_invalid(response, "tools[0].overrides.staticParameters[0].name")


async def test_an_ambiguous_name_asks_for_the_id(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await create_tool(client, tenant)
    await create_tool(client, tenant)

    response = await create_agent(client, tenant, [{"name": "lookup_order"}])

    assert_invalid(response, "tools[0]")


async def test_a_refused_agent_update_leaves_its_tools(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = (await create_agent(client, tenant, ["send_dtmf"])).json()["data"]

    response = await client.put(
        f"{API}/agents/{agent['id']}",
        json={"tools": ["end_call", "nope"]},
        headers=tenant.headers,
    )

    assert_invalid(response, "tools[1]")
    fetched = await client.get(f"{API}/agents/{agent['id']}", headers=tenant.headers)
    assert [t["name"] for t in fetched.json()["data"]["tools"]] == ["send_dtmf"]


async def test_deleting_an_agent_frees_its_tools(client: httpx.AsyncClient, tenant: Tenant) -> None:
    tool = await create_tool(client, tenant)
    agent = (await create_agent(client, tenant, [tool["id"]])).json()["data"]

    await client.delete(f"{API}/agents/{agent['id']}", headers=tenant.headers)
    response = await client.delete(f"{API}/tools/{tool['id']}", headers=tenant.headers)

    assert response.status_code == 200


async def test_a_tool_in_use_cannot_take_the_model_name_of_a_neighbour(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await create_tool(client, tenant)
    second = await create_tool(
        client, tenant, name="weather", definition={"http": {"url": "https://w.example"}}
    )
    lonely = await create_tool(
        client, tenant, name="lonely", definition={"http": {"url": "https://l.example"}}
    )
    agent = await create_agent(client, tenant, [first["id"], second["id"]])
    assert agent.status_code == 201, agent.text
    clash = {"modelToolName": "lookup_order", "http": {"url": "https://w.example"}}

    refused = await client.patch(
        f"{API}/tools/{second['id']}", json={"definition": clash}, headers=tenant.headers
    )
    unused = await client.patch(
        f"{API}/tools/{lonely['id']}", json={"definition": clash}, headers=tenant.headers
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"agents": 1}
    assert unused.status_code == 200
