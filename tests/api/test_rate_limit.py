"""Per-organization rate limits: 429 with Retry-After past the limit, on both backends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest

from tests.conftest import API
from tests.factories import Tenant, app_for
from voxline.config import Settings
from voxline.services.rate_limit import WINDOW_SECONDS
from voxline.storage.db import Database


@asynccontextmanager
async def limited_client(
    settings: Settings, db: Database, limit: int
) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings.model_copy(update={"rate_limit_per_minute": limit}), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield http


async def fresh_window(room_seconds: float = 5) -> None:
    """Wait for a new window when the current one ends too soon for the test's requests.

    The limit is a fixed one-minute window on the wall clock; without this, a test starting
    just before a minute boundary would see its counter reset half way.
    """
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left < room_seconds:
        await asyncio.sleep(left + 0.05)


async def test_the_request_past_the_limit_is_refused_with_retry_after(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    async with limited_client(settings, db, 3) as http:
        await fresh_window()
        allowed = [await http.get(f"{API}/calls", headers=tenant.headers) for _ in range(3)]
        refused = await http.get(f"{API}/calls", headers=tenant.headers)

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["details"]["limit"] == 3
    reset_at = datetime.fromisoformat(error["details"]["reset_at"].replace("Z", "+00:00"))
    assert reset_at.second == 0
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    assert abs(reset_at.timestamp() - time.time() - retry_after) <= 2


async def test_another_organization_is_not_affected(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    async with limited_client(settings, db, 3) as http:
        await fresh_window()
        for _ in range(4):
            await http.get(f"{API}/calls", headers=tenant.headers)
        mine = await http.get(f"{API}/calls", headers=tenant.headers)
        theirs = [await http.get(f"{API}/calls", headers=other_tenant.headers) for _ in range(3)]

    assert mine.status_code == 429
    assert [r.status_code for r in theirs] == [200, 200, 200]


async def test_every_route_counts_toward_the_limit(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    async with limited_client(settings, db, 3) as http:
        await fresh_window()
        await http.get(f"{API}/calls", headers=tenant.headers)
        await http.get(f"{API}/calls/unknown", headers=tenant.headers)
        await http.post(f"{API}/calls/bulk-delete", json={"ids": []}, headers=tenant.headers)
        refused = await http.get(f"{API}/calls", headers=tenant.headers)

    assert refused.status_code == 429


async def test_zero_disables_the_limit(db: Database, settings: Settings, tenant: Tenant) -> None:
    async with limited_client(settings, db, 0) as http:
        responses = [await http.get(f"{API}/calls", headers=tenant.headers) for _ in range(12)]

    assert {r.status_code for r in responses} == {200}


async def test_postgres_api_processes_share_one_counter(
    db: Database, settings: Settings, tenant: Tenant, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("on SQLite one process serves everything and counts in memory")
    async with limited_client(settings, db, 3) as first, limited_client(settings, db, 3) as second:
        await fresh_window()
        allowed = [await first.get(f"{API}/calls", headers=tenant.headers) for _ in range(3)]
        refused = await second.get(f"{API}/calls", headers=tenant.headers)

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert refused.status_code == 429
