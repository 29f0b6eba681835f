"""Hostile text and JSON at the API edge: refused as a 422 naming the field, nothing stored.

The bodies are written by hand, because a JSON escape such as ``\\ud800`` (a lone UTF-16
surrogate) or ``\\u0000`` (NUL) is exactly what a careless or hostile client sends, and
``httpx``'s ``json=`` could not encode the first.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant, insert_agent, insert_call, insert_number
from voxline.storage.db import Database
from voxline.storage.tables import calls

FROM = "+14155550199"
TO = "+14155550123"


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    agent = await insert_agent(db, tenant.org_id, greeting="Hi {{first_name}}")
    await insert_number(db, tenant.org_id, FROM, outbound_agent_id=agent)
    return agent


def headers(tenant: Tenant) -> dict[str, str]:
    return {**tenant.headers, "Content-Type": "application/json"}


async def call_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(calls))).scalar_one())


async def stored_context(db: Database, call_id: str) -> Any:
    async with db.read() as conn:
        query = sa.select(calls.c.context).where(calls.c.id == call_id)
        return (await conn.execute(query)).scalar_one()


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == field, error


def create_body(agent_id: str, fragment: str) -> str:
    """A POST /calls body with ``fragment`` (raw JSON text) spliced in."""
    return f'{{"agent_id": "{agent_id}", "phone_number": "{TO}", {fragment}}}'


HOSTILE_CREATES = [
    ('"variables": {"first_name": "\\ud800"}', "variables.first_name"),
    ('"variables": {"first_name": "x\\udfffy"}', "variables.first_name"),
    ('"variables": {"first_name": "a\\u0000b"}', "variables.first_name"),
    ('"variables": {"\\ud800": "Ada"}', "variables"),
    ('"variables": {"a\\u0000": "Ada"}', "variables"),
    ('"context": {"first_name": "\\ud800"}', "context.first_name"),
    ('"call_settings": {"greeting": "Hello \\ud800"}', "call_settings.greeting"),
    ('"call_settings": {"greeting": "Hello \\u0000"}', "call_settings.greeting"),
]


@pytest.mark.parametrize(("fragment", "field"), HOSTILE_CREATES)
async def test_create_refuses_unstorable_text_and_stores_nothing(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    agent_id: str,
    fragment: str,
    field: str,
) -> None:
    response = await client.post(
        f"{API}/calls", content=create_body(agent_id, fragment), headers=headers(tenant)
    )

    assert_refused(response, field)
    assert await call_count(db) == 0
    listed = await client.get(f"{API}/calls", headers=tenant.headers)
    assert listed.status_code == 200
    assert listed.json()["pagination"]["total"] == 0


async def test_create_keeps_ordinary_unicode_text(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    # The negative neighbour: escaped astral characters (a surrogate *pair*) are fine.
    fragment = '"variables": {"first_name": "Zo\\u00eb \\ud83d\\ude00"}'
    response = await client.post(
        f"{API}/calls", content=create_body(agent_id, fragment), headers=headers(tenant)
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["variables"] == {"first_name": "Zoë \U0001f600"}
    assert await call_count(db) == 1


def nested(depth: int) -> str:
    return '{"k": ' * depth + '"v"' + "}" * depth


HOSTILE_PATCHES = [
    ('{"context": {"note": "\\udfff"}}', "context.note"),
    ('{"context": {"note": {"inner": ["ok", "\\ud800"]}}}', "context.note"),
    ('{"context": {"note": "a\\u0000b"}}', "context.note"),
    ('{"context": {"\\udfff": 1}}', "context"),
    ('{"context": ' + nested(300) + "}", "context"),
]


@pytest.mark.parametrize(("body", "field"), HOSTILE_PATCHES)
async def test_patch_refuses_unstorable_context_and_changes_nothing(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    agent_id: str,
    body: str,
    field: str,
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, context={"priority": "low"})

    response = await client.patch(f"{API}/calls/{call_id}", content=body, headers=headers(tenant))

    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"].startswith(field)
    assert await stored_context(db, call_id) == {"priority": "low"}
    read = await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)
    assert read.status_code == 200
    assert read.json()["data"]["context"] == {"priority": "low"}


async def test_patch_keeps_nested_context_within_the_depth_limit(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, context={})
    body = json.dumps({"context": {"note": json.loads(nested(5))}})

    response = await client.patch(f"{API}/calls/{call_id}", content=body, headers=headers(tenant))

    assert response.status_code == 200, response.text
    assert await stored_context(db, call_id) == {"note": json.loads(nested(5))}


# --- limits --------------------------------------------------------------------------------


async def post_json(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: Any
) -> httpx.Response:
    return await client.post(f"{API}{path}", content=json.dumps(body), headers=headers(tenant))


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({f"v{i}": "x" for i in range(101)}, "variables"),
        ({"first_name": "x" * 4097}, "variables.first_name"),
        ({"k" * 257: "x"}, "variables"),
        ({"first_name": {"nested": "no"}}, "variables.first_name"),
        ({f"v{i}": "é" * 4000 for i in range(9)}, "variables"),  # > 64 KiB as UTF-8 JSON
    ],
)
async def test_create_refuses_variables_beyond_the_limits(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    agent_id: str,
    variables: dict[str, Any],
    field: str,
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO, "variables": variables}

    response = await post_json(client, tenant, "/calls", body)

    assert_refused(response, field)
    assert await call_count(db) == 0


async def test_create_accepts_variables_at_the_limits(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    variables = {f"v{i}": "x" * 600 for i in range(99)} | {"k" * 256: "x" * 4096}
    body = {"agent_id": agent_id, "phone_number": TO, "variables": variables}

    response = await post_json(client, tenant, "/calls", body)

    assert response.status_code == 201, response.text
    assert response.json()["data"]["variables"] == variables


@pytest.mark.parametrize(
    "context",
    [
        {f"k{i}": i for i in range(501)},
        {"note": "x" * (64 * 1024)},
        {"k" * 257: 1},
    ],
)
async def test_patch_refuses_context_beyond_the_limits(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, context: Any
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, context={"priority": "low"})

    response = await client.patch(
        f"{API}/calls/{call_id}", content=json.dumps({"context": context}), headers=headers(tenant)
    )

    assert_refused(response, "context")
    assert await stored_context(db, call_id) == {"priority": "low"}


async def test_patches_cannot_add_up_past_the_context_size(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, context={})
    url = f"{API}/calls/{call_id}"
    first = {"context": {"a": "x" * 40_000}}
    second = {"context": {"b": "y" * 40_000}}

    assert (await client.patch(url, json=first, headers=tenant.headers)).status_code == 200
    response = await client.patch(url, json=second, headers=tenant.headers)

    assert_refused(response, "context")
    assert await stored_context(db, call_id) == first["context"]


# --- other stored text ---------------------------------------------------------------------

AGENT = {"name": "Ava", "system_prompt": "Be brief."}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/agents", {**AGENT, "name": "Ava\ud800"}, "name"),
        ("/agents", {**AGENT, "system_prompt": "Be \x00 brief."}, "system_prompt"),
        ("/agents", {**AGENT, "greeting": "\udfffHi"}, "greeting"),
        ("/agents", {**AGENT, "description": "\x00"}, "description"),
        (
            "/telephony/numbers/purchase",
            {"phone_number": "+14155550111", "friendly_name": "Main \ud800"},
            "friendly_name",
        ),
    ],
)
async def test_other_resources_refuse_unstorable_text(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: dict[str, Any], field: str
) -> None:
    # json.dumps writes lone surrogates and NUL as \\u escapes, as a client would send them.
    response = await post_json(client, tenant, path, body)
    assert_refused(response, field)
    listed = await client.get(f"{API}{path.removesuffix('/purchase')}", headers=tenant.headers)
    assert listed.status_code == 200
    assert listed.json()["data"] == []


async def test_other_resources_keep_ordinary_unicode_text(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await post_json(client, tenant, "/agents", {**AGENT, "name": "Zoë \U0001f600"})
    assert response.status_code == 201, response.text
    assert response.json()["data"]["name"] == "Zoë \U0001f600"


# --- ASCII digits --------------------------------------------------------------------------

DEVANAGARI_NUMBER = "+1415555\u0967\u096f\u096f\u096e"  # +1415555१९९८


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phone_number": DEVANAGARI_NUMBER}, "phone_number"),
        ({"from_number": DEVANAGARI_NUMBER}, "from_number"),
        ({"call_settings": {"join_timeout": "\u0665s"}}, "call_settings.join_timeout"),
        ({"call_settings": {"max_duration": "1\u0665m"}}, "call_settings.max_duration"),
    ],
)
async def test_create_refuses_digits_of_other_scripts(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    agent_id: str,
    change: dict[str, Any],
    field: str,
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO, **change}

    response = await post_json(client, tenant, "/calls", body)

    assert_refused(response, field)
    assert await call_count(db) == 0


async def test_create_takes_ascii_durations(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO, "call_settings": {"join_timeout": "5s"}}
    response = await post_json(client, tenant, "/calls", body)
    assert response.status_code == 201, response.text
    assert response.json()["data"]["call_settings"]["join_timeout"] == "5s"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/agents", {**AGENT, "max_duration": "\u0665m"}, "max_duration"),
        ("/agents", {**AGENT, "join_timeout": "\u0663\u0660s"}, "join_timeout"),
        ("/telephony/numbers/purchase", {"phone_number": DEVANAGARI_NUMBER}, "phone_number"),
        (
            "/telephony/numbers/import",
            {"phone_number": DEVANAGARI_NUMBER, "provider_type": "sandbox"},
            "phone_number",
        ),
    ],
)
async def test_other_resources_refuse_digits_of_other_scripts(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: dict[str, Any], field: str
) -> None:
    response = await post_json(client, tenant, path, body)
    assert_refused(response, field)


async def test_number_search_takes_ascii_area_codes_only(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    path = "/telephony/numbers/search"
    refused = await post_json(client, tenant, path, {"area_code": "4\u0661\u0665"})
    served = await post_json(client, tenant, path, {"area_code": "415"})

    assert_refused(refused, "area_code")
    assert served.status_code == 200, served.text


# --- bodies the JSON parser cannot take -------------------------------------------------------


@pytest.mark.parametrize("depth", [5_000, 100_000])
async def test_a_body_nested_beyond_the_parser_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, depth: int
) -> None:
    deep = "[" * depth + "]" * depth
    body = create_body(agent_id, f'"variables": {{"first_name": {deep}}}')

    response = await client.post(f"{API}/calls", content=body, headers=headers(tenant))

    assert response.status_code == 400, response.text[:500]
    assert response.json()["error"]["code"] == "bad_request"
    assert await call_count(db) == 0


async def test_a_body_nested_within_the_parser_reaches_validation(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    body = create_body(agent_id, f'"variables": {{"first_name": {"[" * 50 + "]" * 50}}}')

    response = await client.post(f"{API}/calls", content=body, headers=headers(tenant))

    assert_refused(response, "variables.first_name")
