"""X-Idempotency-Key on POST /calls: replays, conflicts, concurrency, scope and expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant, app_for, insert_agent, insert_number
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.services import billing
from voxline.storage.db import Database
from voxline.storage.tables import calls, idempotency_records
from voxline.storage.types import utcnow

TO = "+14155550123"


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155550199", outbound_agent_id=agent)
    return agent


def keyed(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "X-Idempotency-Key": key}


async def count_calls(db: Database, org_id: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(calls)
    if org_id is not None:
        query = query.where(calls.c.organization_id == org_id)
    async with db.read() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_same_key_and_body_replay_the_stored_response(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO, "variables": {"a": "1"}}

    first = await client.post(f"{API}/calls", json=body, headers=keyed(tenant, "k-1"))
    second = await client.post(f"{API}/calls", json=body, headers=keyed(tenant, "k-1"))

    assert first.status_code == second.status_code == 201
    assert first.json()["data"] == second.json()["data"]
    assert await count_calls(db) == 1


async def test_twenty_concurrent_duplicates_create_one_call(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO}

    responses = await asyncio.gather(
        *(client.post(f"{API}/calls", json=body, headers=keyed(tenant, "burst")) for _ in range(20))
    )

    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["data"]["id"] for r in responses}) == 1
    assert await count_calls(db) == 1


async def test_same_key_with_another_body_is_a_conflict(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO}
    await client.post(f"{API}/calls", json=body, headers=keyed(tenant, "k-2"))

    response = await client.post(
        f"{API}/calls",
        json={**body, "phone_number": "+14155550124"},
        headers=keyed(tenant, "k-2"),
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert await count_calls(db) == 1


async def test_keys_are_scoped_to_the_organization(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant, agent_id: str
) -> None:
    other_agent = await insert_agent(db, other_tenant.org_id)
    await insert_number(db, other_tenant.org_id, "+14155550198", outbound_agent_id=other_agent)

    mine = await client.post(
        f"{API}/calls",
        json={"agent_id": agent_id, "phone_number": TO},
        headers=keyed(tenant, "shared"),
    )
    theirs = await client.post(
        f"{API}/calls",
        json={"agent_id": other_agent, "phone_number": TO},
        headers=keyed(other_tenant, "shared"),
    )

    assert mine.status_code == theirs.status_code == 201
    assert await count_calls(db, tenant.org_id) == 1
    assert await count_calls(db, other_tenant.org_id) == 1


async def test_a_failed_request_is_not_stored_and_may_be_retried(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO}
    await billing.set_balance(db, tenant.org_id, Decimal(0))
    refused = await client.post(f"{API}/calls", json=body, headers=keyed(tenant, "k-3"))
    await billing.set_balance(db, tenant.org_id, Decimal(5))

    retried = await client.post(f"{API}/calls", json=body, headers=keyed(tenant, "k-3"))

    assert refused.status_code == 402
    assert retried.status_code == 201
    assert await count_calls(db) == 1


async def test_an_overlong_key_is_a_validation_error(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    response = await client.post(
        f"{API}/calls",
        json={"agent_id": agent_id, "phone_number": TO},
        headers=keyed(tenant, "k" * 256),
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "X-Idempotency-Key"


@pytest.fixture
async def short_ttl_client(db: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings.model_copy(update={"idempotency_ttl_seconds": 1}), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield http


async def test_an_expired_key_creates_a_new_call(
    short_ttl_client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO}
    first = await short_ttl_client.post(f"{API}/calls", json=body, headers=keyed(tenant, "old"))
    async with db.read() as conn:
        expires_at = (await conn.execute(sa.select(idempotency_records.c.expires_at))).scalar_one()
    assert expires_at - utcnow() <= timedelta(seconds=1)
    async with db.write() as conn:
        await conn.execute(
            idempotency_records.update().values(expires_at=utcnow() - timedelta(seconds=1))
        )

    second = await short_ttl_client.post(f"{API}/calls", json=body, headers=keyed(tenant, "old"))

    assert second.status_code == 201
    assert second.json()["data"]["id"] != first.json()["data"]["id"]
    assert await count_calls(db) == 2


@asynccontextmanager
async def _closing(engine: Engine) -> AsyncIterator[None]:
    """Ends the engine's simulated calls and closes its carriers when the block ends: the
    engine is not run, so nothing else stops a placed sandbox call from writing later."""
    try:
        yield
    finally:
        await engine.sandbox.aclose()
        await engine.carriers.aclose()


async def test_a_replay_of_a_refused_call_answers_the_stored_502(
    db: Database, settings: Settings, tenant: Tenant, agent_id: str
) -> None:
    # The sandbox's +1 NPA 555 0104 is not in service: the engine's inline placement fails.
    engine = Engine(db, settings)
    app = app_for(settings, db=db, engine=engine)
    body = {"agent_id": agent_id, "phone_number": "+14155550104"}
    transport = httpx.ASGITransport(app=app)
    async with (
        _closing(engine),
        httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http,
    ):
        first = await http.post(f"{API}/calls", json=body, headers=keyed(tenant, "refused-1"))
        again = await http.post(f"{API}/calls", json=body, headers=keyed(tenant, "refused-1"))
        other = await http.post(f"{API}/calls", json=body, headers=keyed(tenant, "refused-2"))

    assert first.status_code == again.status_code == 502
    refused = first.json()["error"]
    assert again.json()["error"] == refused
    assert refused["details"]["call_id"]
    # A new key is a new call, refused in its own right; the replay created nothing.
    assert other.status_code == 502
    assert other.json()["error"]["details"]["call_id"] != refused["details"]["call_id"]
    assert await count_calls(db) == 2
    async with db.read() as conn:
        statuses = (await conn.execute(sa.select(calls.c.status))).scalars().all()
    assert statuses == ["failed", "failed"]


async def test_a_replay_of_an_accepted_call_still_answers_201(
    db: Database, settings: Settings, tenant: Tenant, agent_id: str
) -> None:
    engine = Engine(db, settings)
    app = app_for(settings, db=db, engine=engine)
    body = {"agent_id": agent_id, "phone_number": "+14155550101"}
    transport = httpx.ASGITransport(app=app)
    async with (
        _closing(engine),
        httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http,
    ):
        first = await http.post(f"{API}/calls", json=body, headers=keyed(tenant, "accepted-1"))
        again = await http.post(f"{API}/calls", json=body, headers=keyed(tenant, "accepted-1"))

    assert first.status_code == again.status_code == 201
    assert again.json()["data"]["id"] == first.json()["data"]["id"]
    assert await count_calls(db) == 1
