"""Request bodies above ``max_body_bytes`` are a 413 on every route, before anything is read
further or written."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant, app_for, insert_agent, insert_number
from voxline.config import Settings
from voxline.storage.db import Database
from voxline.storage.tables import calls

LIMIT = 4096
FROM = "+14155550199"


@pytest.fixture
async def small(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose body limit is :data:`LIMIT` bytes."""
    app = app_for(settings.model_copy(update={"max_body_bytes": LIMIT}), db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield http


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, FROM, outbound_agent_id=agent)
    return agent


def call_body(agent_id: str, size: int) -> bytes:
    """A valid POST /calls body of exactly ``size`` bytes."""
    base = {"agent_id": agent_id, "phone_number": "+14155550123", "variables": {"pad": ""}}
    padding = size - len(json.dumps(base).encode())
    assert padding >= 0
    base["variables"] = {"pad": "x" * padding}
    body = json.dumps(base).encode()
    assert len(body) == size
    return body


async def call_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(calls))).scalar_one())


def assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    body: dict[str, Any] = response.json()
    assert body["error"]["code"] == "payload_too_large"
    assert body["error"]["details"] == {"max_bytes": LIMIT}
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]


async def test_a_body_over_the_limit_is_refused_and_nothing_is_stored(
    small: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await small.post(
        f"{API}/calls", content=call_body(agent_id, LIMIT + 1), headers=headers
    )

    assert_too_large(response)
    assert await call_count(db) == 0


async def test_a_body_at_the_limit_is_served(
    small: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await small.post(f"{API}/calls", content=call_body(agent_id, LIMIT), headers=headers)

    assert response.status_code == 201, response.text
    assert await call_count(db) == 1


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(
    small: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    sent = 0
    chunk = b"x" * 1024

    async def stream() -> AsyncIterator[bytes]:
        # No Content-Length: httpx sends this chunked, as a client streaming a body would.
        nonlocal sent
        for _ in range(1000):
            sent += 1
            yield chunk

    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await small.post(f"{API}/calls", content=stream(), headers=headers)

    assert_too_large(response)
    assert sent <= LIMIT // len(chunk) + 1
    assert await call_count(db) == 0


async def test_a_streamed_body_within_the_limit_reaches_the_route(
    small: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    body = call_body(agent_id, LIMIT - 10)

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await small.post(f"{API}/calls", content=stream(), headers=headers)

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{API}/calls"),
        ("PATCH", f"{API}/calls/5b3f1c8e-4a41-4f0e-9a51-2d8a1d0f3c77"),
        ("POST", f"{API}/agents"),
        ("POST", f"{API}/telephony/numbers/import"),
        ("POST", "/webhooks/twilio/status"),
        ("POST", "/nowhere"),
    ],
)
async def test_every_route_has_the_limit_even_without_credentials(
    small: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await small.request(method, path, content=b"{" + b" " * LIMIT + b"}")
    assert_too_large(response)


async def test_the_default_limit_is_one_mebibyte(client: httpx.AsyncClient, tenant: Tenant) -> None:
    over = await client.post(
        f"{API}/agents", content=b" " * (1024 * 1024 + 1), headers=tenant.headers
    )
    under = await client.post(f"{API}/agents", content=b" " * (1024 * 1024), headers=tenant.headers)

    assert over.status_code == 413
    assert under.status_code in (400, 422), under.text
