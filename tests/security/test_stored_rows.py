"""Reads never fail on stored data: the worst values of a hostile-input probe, written
straight into the database (bypassing the API and its policy), still list and read as 200.

Each value is written as raw JSON text, so it is stored exactly as a client's bytes would
have been; a value the backend itself refuses is skipped on that backend only.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.conftest import API
from tests.factories import Tenant, insert_agent, insert_call
from voxline.domain.text import JSON_DEPTH_MAX, TRUNCATED
from voxline.storage.db import Database


def nested(depth: int) -> str:
    return '{"k": ' * depth + '"v"' + "}" * depth


# (column, raw JSON text); the names say what each would break without the read policy.
HOSTILE = {
    "lone_surrogate_variable": ("variables", '{"first_name": "\\ud800", "last": "x\\udfff"}'),
    "nul_variable": ("variables", '{"first_name": "a\\u0000b"}'),
    "surrogate_key": ("context", '{"\\udfff": 1}'),
    "non_string_variable": ("variables", '{"n": 5, "o": {"a": [1]}}'),
    "context_300_deep": ("context", '{"note": ' + nested(300) + "}"),
    "context_5000_deep": ("context", '{"note": ' + nested(5000) + "}"),
    "array_context": ("context", "[1, 2, 3]"),
    "huge_context": ("context", json.dumps({"blob": "x" * 2_000_000})),
    "surrogate_greeting": (
        "settings",
        json.dumps(
            {
                "recording_enabled": True,
                "transcription_enabled": True,
                "greeting": "Hi \\ud800",
                "max_duration_seconds": 60.0,
                "join_timeout_seconds": 30.0,
            }
        ).replace("\\\\ud800", "\\ud800"),
    ),
    "nan_metrics": ("metrics", '{"latency": NaN, "deep": ' + nested(50) + "}"),
}


async def write_raw(db: Database, call_id: str, column: str, text: str) -> bool:
    """Store ``text`` as the JSON of ``column``; False when the backend refuses it."""
    cast = "CAST(:value AS json)" if not db.is_sqlite else ":value"
    statement = sa.text(f"UPDATE calls SET {column} = {cast} WHERE id = :id")
    try:
        async with db.write() as conn:
            await conn.execute(statement, {"value": text, "id": call_id})
    except DBAPIError:
        return False
    return True


def walk(value: Any, depth: int = 0) -> int:
    """The nesting depth of a rendered value."""
    if isinstance(value, dict):
        return max((walk(v, depth + 1) for v in value.values()), default=depth + 1)
    if isinstance(value, list):
        return max((walk(v, depth + 1) for v in value), default=depth + 1)
    return depth


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_stored_row_still_lists_and_reads(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, backend: str, case: str
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)
    plain = await insert_call(db, tenant.org_id, agent_id, context={"priority": "high"})
    hostile = await insert_call(db, tenant.org_id, agent_id)
    column, text = HOSTILE[case]
    if not await write_raw(db, hostile, column, text):
        assert backend == "postgres", f"SQLite stores any text, yet refused {case}"
        pytest.skip(f"{backend} refuses {case} itself")

    listed = await client.get(f"{API}/calls", headers=tenant.headers)
    read = await client.get(f"{API}/calls/{hostile}", headers=tenant.headers)

    assert listed.status_code == 200, listed.text[:500]
    assert read.status_code == 200, read.text[:500]
    listed.content.decode("utf-8")  # strict: nothing unencodable got through
    rows = {c["id"]: c for c in listed.json()["data"]}
    assert set(rows) == {plain, hostile}
    assert listed.json()["pagination"]["total"] == 2
    assert rows[plain]["context"] == {"priority": "high"}  # the ordinary row is untouched
    shown = read.json()["data"]
    assert shown == rows[hostile]
    assert walk(shown["context"]) <= JSON_DEPTH_MAX
    assert all(isinstance(v, str) for v in shown["variables"].values())


async def test_unrenderable_parts_are_replaced_by_marked_safe_values(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)
    call_id = await insert_call(db, tenant.org_id, agent_id)
    assert await write_raw(db, call_id, "variables", HOSTILE["nul_variable"][1])
    assert await write_raw(db, call_id, "context", HOSTILE["context_300_deep"][1])

    shown = (await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)).json()["data"]

    assert shown["variables"] == {"first_name": "a\ufffdb"}
    cut = shown["context"]["note"]
    for _ in range(JSON_DEPTH_MAX - 1):  # context is level 1, note 2, the last object 10
        cut = cut["k"]
    assert cut == TRUNCATED


async def test_a_surrogate_is_replaced_where_the_backend_stores_it(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, backend: str
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)
    call_id = await insert_call(db, tenant.org_id, agent_id)
    if not await write_raw(db, call_id, "variables", HOSTILE["lone_surrogate_variable"][1]):
        pytest.skip(f"{backend} refuses lone surrogates in JSON")

    shown = (await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)).json()["data"]

    assert shown["variables"] == {"first_name": "\ufffd", "last": "x\ufffd"}
