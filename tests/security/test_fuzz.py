"""Arbitrary JSON at every operation of the public API, as a real organization.

The operations come from the app's own OpenAPI document, so a new route is fuzzed without
editing this file. Each example sends one request whose path ids, query and body are drawn
from arbitrary JSON mixed with values that reach deeper (the organization's real ids, valid
and foreign-digit phone numbers, lone surrogates, NUL, NaN, over-deep objects) and checks:

* the answer is never a 5xx;
* a 4xx leaves every table exactly as it was (row counts and latest ``updated_at``);
* the list endpoints still answer 200 after every request that changed something.

The app runs no engine and its provider URLs point at a closed local port, so a created call
is only queued and nothing leaves the machine. The profile is derandomized (same examples on
every run) with a fixed number of examples per backend.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import API
from tests.factories import Tenant, app_for, insert_agent, insert_call, insert_number, insert_tool
from voxline.config import Settings, load_settings
from voxline.services import contacts
from voxline.storage.db import Database
from voxline.storage.tables import metadata

FROM = "+14155550199"
LISTS = (
    "/calls",
    "/agents",
    "/tools",
    "/voices",
    "/telephony/numbers",
    "/telephony/credentials",
    "/contacts",
    "/contacts/folders",
    "/dnc",
)
NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing leaves

# --- the operations, from the OpenAPI document ---------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # without the API prefix, with {placeholders}
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    body_fields: tuple[str, ...] | None  # None: the operation takes no body

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return f"{self.method} {self.path}"


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of the public API (the app is built only to read its document)."""
    app = app_for(load_settings(database_url="sqlite+aiosqlite:///:memory:"))
    document = app.openapi()
    found = []
    for path, methods in document["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in methods.items():
            params = operation.get("parameters", [])
            body = operation.get("requestBody")
            fields = None
            json_body = (body or {}).get("content", {}).get("application/json")
            if json_body is not None:  # a multipart-only upload is fuzzed without a body
                schema = _resolve(document, json_body["schema"])
                fields = tuple(schema.get("properties", {}))
            found.append(
                Operation(
                    method=method.upper(),
                    path=path.removeprefix(API),
                    path_params=tuple(p["name"] for p in params if p["in"] == "path"),
                    query_params=tuple(p["name"] for p in params if p["in"] == "query"),
                    body_fields=fields,
                )
            )
    return tuple(sorted(found, key=repr))


def test_every_public_operation_is_fuzzed() -> None:
    # The fuzzer reads its operations from the document; an empty or partial read would make
    # the property below pass vacuously.
    names = {repr(op) for op in operations()}
    assert len(names) >= 25
    assert {"POST /calls", "PATCH /calls/{call_id}", "POST /agents"} <= names
    assert "POST /telephony/numbers/import" in names
    assert {"POST /tools", "PATCH /tools/{tool_id}", "DELETE /tools/{tool_id}"} <= names
    assert {"POST /contacts", "PATCH /contacts/{contact_id}", "POST /contacts/import"} <= names
    assert {
        "PATCH /contacts/folders/{folder_id}",
        "POST /dnc",
        "DELETE /dnc/{phone_number}",
    } <= names


# --- values ----------------------------------------------------------------------------------

HOSTILE_CHARS = ["\x00", "\ud800", "\udfff", "\u0967", "\u0665", "\ufffd", "\U0001f600", "{"]


def _texts(*, surrogates: bool) -> st.SearchStrategy[str]:
    extra = [c for c in HOSTILE_CHARS if surrogates or not "\ud800" <= c <= "\udfff"]
    chars = st.characters() if surrogates else st.characters(codec="utf-8")
    return st.text(st.one_of(chars, st.sampled_from(extra)), max_size=30)


TEXTS = _texts(surrogates=True)
URL_TEXTS = _texts(surrogates=False)  # what a URL can carry; httpx percent-encodes it
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXTS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXTS, inner, max_size=4),
    max_leaves=16,
)


def _deep(depth: int) -> Any:
    value: Any = "v"
    for _ in range(depth):
        value = {"k": value}
    return value


DEEP = st.integers(min_value=9, max_value=400).map(_deep)


@dataclass(frozen=True)
class World:
    """The organization's real ids, so fuzzed requests get past "not found"."""

    agent_id: str
    call_id: str
    number_id: str
    tool_id: str
    folder_id: str
    contact_id: str


def _seeds(world: World) -> dict[str, list[Any]]:
    phones = ["+14155550123", FROM, "+1415555\u0967\u096f\u096f\u096e", "+14155550177"]
    return {
        "agent_id": [world.agent_id],
        "call_id": [world.call_id],
        "number_id": [world.number_id],
        "tool_id": [world.tool_id],
        "folder_id": [world.folder_id],
        "contact_id": [world.contact_id],
        "contacts": [
            [{"phone": "+14155550123", "metadata": {"a": "\x00"}}],
            [{"phone_number": "+1415555\u0967\u096f\u096f\u096e", "timezone": "../etc"}],
            [{"phone_number": "+14155550124", "custom_fields": _deep(50)}],
            [{"phone_number": ["+14155550125"], "folder_id": "x"}],
        ],
        "overwrite_existing": [True, False, "true"],
        "timezone": ["Europe/Paris", "Mars/Base", "../../etc/passwd", "\x00"],
        "custom_fields": [{"plan": "gold"}, {"a": "\x00"}, {"\udfff": 1}, _deep(50)],
        "metadata": [{"plan": "gold"}, {"a": ["\x00"]}],
        "email": ["a@example.com", "a@b", "\x00@x.y"],
        "first_name": ["Jane", "\ud800", "x" * 101],
        "reason": ["asked", "\x00", "x" * 501],
        "search": ["%", "_", "\\", "jane"],
        "page": [1, 2, 2**40],
        "sort_by": ["name", "contact_count", "created_at"],
        "definition": [
            TOOL_DEFINITION,
            {**TOOL_DEFINITION, "dynamicParameters": [{"name": "a", "schema": {"type": 5}}]},
            {**TOOL_DEFINITION, "http": {"url": "https://x.example/{\ud800}"}},
            {**TOOL_DEFINITION, "timeout": "\u0665s"},
            {"modelToolName": "end_call"},
            {"staticParameters": [{"name": "X", "location": "header", "value": "********"}]},
            _deep(300),
            None,
        ],
        "tools": [
            [world.tool_id, "end_call"],
            [{"name": "transfer_call", "overrides": {"destinations": [{"to": "+1415555\u0967"}]}}],
            [{"name": "leave_voicemail", "overrides": {"message": "\x00"}}],
            [{"tool_id": world.tool_id, "overrides": {"staticParameters": _deep(50)}}],
            ["no_such_tool"],
        ],
        "voice_id": ["espeak-en-us", None],
        "ids": [[world.call_id], [world.call_id, world.agent_id]],
        "phone_number": phones,
        "from_number": phones,
        "provider_type": ["sandbox", "twilio", "telnyx", "plivo"],
        "assignment_type": ["inbound", "outbound"],
        "status": ["active", "draft", "completed", "in-progress"],
        "direction": ["inbound", "outbound"],
        "name": ["Ava", "Ava\ud800", ""],
        "system_prompt": ["Be brief.", "\x00"],
        "model": ["scripted"],
        "max_duration": ["600s", "\u0665s", "5h"],
        "join_timeout": ["30s", "\u0663\u0660s"],
        "area_code": ["415", "4\u0661\u0665"],
        "created_after": ["2026-01-01T00:00:00Z", "0.5"],
        "limit": [1, 100, 101, "1"],
        "offset": [0, 2**40],
        # The probe's worst values, for the object fields.
        "variables": [
            {"first_name": "\ud800"},
            {"first_name": "a\x00b"},
            {"\udfff": "x"},
            {f"v{i}": "x" for i in range(101)},
        ],
        "context": [{"note": "\udfff"}, {"note": ["\x00"]}, {"note": _deep(300)}],
        "call_settings": [
            {"greeting": "Hi \ud800"},
            {"greeting": "\x00"},
            {"max_duration": "\u0665m"},
            {"join_timeout": "3\u0660s"},
        ],
    }


def _value(seeds: dict[str, list[Any]], name: str) -> st.SearchStrategy[Any]:
    """A value for field ``name``: one of its seeds half of the time, else anything."""
    anything: st.SearchStrategy[Any] = JSON
    if name not in seeds:
        return anything
    seeded = st.sampled_from(seeds[name])
    return st.one_of(seeded, seeded, anything)


TOOL_DEFINITION: dict[str, Any] = {
    "http": {"url": "https://api.example/orders/{id}", "method": "POST"},
    "dynamicParameters": [{"name": "id", "location": "path", "schema": {"type": "string"}}],
    "staticParameters": [{"name": "X-Key", "location": "header", "value": "k"}],
}


def _valid_bodies(world: World) -> dict[str, dict[str, Any]]:
    """A body each writing operation accepts, to fuzz one field of at a time."""
    agent = {"name": "Ava", "system_prompt": "Be brief."}
    tool = {"name": "lookup", "definition": TOOL_DEFINITION}
    return {
        "POST /tools": tool,
        "PATCH /tools/{tool_id}": tool,
        "POST /calls": {"agent_id": world.agent_id, "phone_number": "+14155550123"},
        "POST /contacts": {"phone_number": "+14155550123", "first_name": "Jane"},
        "PATCH /contacts/{contact_id}": {"first_name": "Jane"},
        "POST /contacts/folders": {"name": "Leads"},
        "PATCH /contacts/folders/{folder_id}": {"name": "Leads"},
        "POST /contacts/import": {"contacts": [{"phone": "+14155550126"}]},
        "POST /dnc": {"phone_number": "+14155550177"},
        "PATCH /calls/{call_id}": {"context": {"note": "ok"}},
        "POST /calls/bulk-delete": {"ids": [world.call_id]},
        "POST /agents": agent,
        "PUT /agents/{agent_id}": agent,
        "PATCH /agents/{agent_id}": {"name": "Ava"},
        "POST /telephony/numbers/purchase": {"phone_number": "+14155550177"},
        "POST /telephony/numbers/assign": {
            "number_id": world.number_id,
            "agent_id": world.agent_id,
            "assignment_type": "inbound",
        },
    }


def _body(
    seeds: dict[str, list[Any]], fields: tuple[str, ...], valid: dict[str, Any] | None
) -> st.SearchStrategy[Any]:
    known = st.fixed_dictionaries({}, optional={f: _value(seeds, f) for f in fields})
    extra = st.dictionaries(TEXTS, JSON, max_size=2)
    one_field = st.nothing()
    if valid is not None and fields:
        one_field = st.sampled_from(fields).flatmap(
            lambda f: _value(seeds, f).map(lambda v: {**valid, f: v})
        )
    return st.one_of(
        st.just(valid) if valid is not None else st.nothing(),
        one_field,
        one_field,
        one_field,
        one_field,
        known,
        st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]}),
        JSON,
        DEEP,
    )


def _in_url(text: str) -> bool:
    """Whether a URL can carry ``text`` (as UTF-8, percent-encoded): no lone surrogates."""
    return not any("\ud800" <= c <= "\udfff" for c in text)


def _query_value(seeds: dict[str, list[Any]], name: str) -> st.SearchStrategy[str]:
    seeded = [str(v) for v in seeds.get(name, []) if isinstance(v, str | int) and _in_url(str(v))]
    return st.sampled_from(seeded) | URL_TEXTS if seeded else URL_TEXTS


@dataclass
class Request:
    method: str
    url: str
    params: dict[str, str]
    content: bytes | None


def request_for(operation: Operation, world: World) -> st.SearchStrategy[Request]:
    seeds = _seeds(world)

    @st.composite
    def build(draw: st.DrawFn) -> Request:
        path = operation.path
        for name in operation.path_params:
            seeded = [str(v) for v in seeds.get(name, []) if v and _in_url(str(v))]
            # Mostly a real id, so the request gets past "not found".
            real = st.sampled_from(seeded)
            raw = draw(st.one_of(real, real, URL_TEXTS) if seeded else URL_TEXTS)
            path = path.replace(f"{{{name}}}", quote(raw, safe="") or "%20")
        names = st.sampled_from(operation.query_params) if operation.query_params else URL_TEXTS
        keys = draw(st.lists(names | URL_TEXTS, max_size=3, unique=True))
        params = {key: draw(_query_value(seeds, key)) for key in keys}
        content = None
        if operation.body_fields is not None:
            raw_bytes = st.binary(max_size=40)
            valid = _valid_bodies(world).get(repr(operation))
            encoded = _body(seeds, operation.body_fields, valid).map(
                lambda body: json.dumps(body, allow_nan=True).encode()
            )
            # Now and then bytes that are not JSON at all.
            content = draw(raw_bytes if draw(st.integers(0, 7)) == 0 else encoded)
        return Request(operation.method, f"{API}{path}", params, content)

    return build()


# --- the state of the database ---------------------------------------------------------------

_SKIPPED = {"rate_limit_windows"}  # disabled in tests (rate_limit_per_minute=0)


async def fingerprint(db: Database) -> dict[str, Any]:
    """Row count and latest ``updated_at`` of every table (and the sum of the call counters),
    read in one statement: what any write would change."""
    columns = []
    for table in metadata.sorted_tables:
        if table.name in _SKIPPED:
            continue
        columns.append(
            sa.select(sa.func.count()).select_from(table).scalar_subquery().label(table.name)
        )
        if "updated_at" in table.c:
            latest = sa.select(sa.func.max(table.c.updated_at)).scalar_subquery()
            columns.append(latest.label(f"{table.name}.updated_at"))
        if table.name == "call_counts":
            total = sa.select(sa.func.sum(table.c.n)).scalar_subquery()
            columns.append(total.label("call_counts.n"))
    async with db.read() as conn:
        return dict((await conn.execute(sa.select(*columns))).one()._mapping)


# --- the property ----------------------------------------------------------------------------


@pytest.fixture
async def fuzz_client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    offline = settings.model_copy(
        update={
            "twilio_api_base_url": NOWHERE,
            "telnyx_api_base_url": NOWHERE,
            "plivo_api_base_url": NOWHERE,
            "llm_base_url": None,
        }
    )
    app = app_for(offline, db=db)  # no engine: a created call is only queued
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield http


@pytest.fixture
async def world(db: Database, tenant: Tenant) -> World:
    agent_id = await insert_agent(db, tenant.org_id)
    number_id = await insert_number(db, tenant.org_id, FROM, outbound_agent_id=agent_id)
    call_id = await insert_call(db, tenant.org_id, agent_id, context={"priority": "low"})
    tool_id = await insert_tool(db, tenant.org_id)
    folder = await contacts.create_folder(db, tenant.org_id, "Leads", None)
    contact = await contacts.create_contact(
        db, tenant.org_id, folder.id, {"phone_number": "+14155550123"}
    )
    return World(
        agent_id=agent_id,
        call_id=call_id,
        number_id=number_id,
        tool_id=tool_id,
        folder_id=folder.id,
        contact_id=contact.id,
    )


def _profile(examples: int) -> Any:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


WITH_BODY = [op for op in operations() if op.body_fields is not None]
WITHOUT_BODY = [op for op in operations() if op.body_fields is None]

_TRACEBACK = re.compile(r"Traceback|File \"")


async def check_one_request(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, request: Request
) -> None:
    """Send ``request`` and check the three properties of this module."""
    headers = {**tenant.headers, "Content-Type": "application/json"}
    before = await fingerprint(db)

    response = await client.request(
        request.method, request.url, params=request.params, content=request.content, headers=headers
    )

    event(f"{request.method} -> {response.status_code}")
    assert response.status_code < 500, response.text[:1000]
    assert not _TRACEBACK.search(response.text)
    if 400 <= response.status_code < 500:
        assert response.json()["error"]["code"], response.text[:1000]
        assert await fingerprint(db) == before, (response.status_code, response.text[:1000])
    elif request.method != "GET":
        # After a 4xx nothing changed (checked above), so the lists answer as before.
        for path in LISTS:
            listed = await client.get(f"{API}{path}", headers=tenant.headers)
            assert listed.status_code == 200, (path, listed.text[:1000])


@pytest.mark.parametrize("operation", WITH_BODY, ids=repr)
@_profile(45)
@given(data=st.data())
async def test_no_body_breaks_the_api(
    fuzz_client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    world: World,
    operation: Operation,
    data: st.DataObject,
) -> None:
    request = data.draw(request_for(operation, world), label="request")
    await check_one_request(fuzz_client, db, tenant, request)


@pytest.mark.parametrize("operation", WITHOUT_BODY, ids=repr)
@_profile(6)
@given(data=st.data())
async def test_no_path_or_query_breaks_the_api(
    fuzz_client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    world: World,
    operation: Operation,
    data: st.DataObject,
) -> None:
    request = data.draw(request_for(operation, world), label="request")
    await check_one_request(fuzz_client, db, tenant, request)
