"""A draining engine takes no new calls: created calls stay queued for other workers, a
sandbox call-in is refused with a 503, and the dispatcher claims nothing more."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import API
from tests.engine.conftest import Phone
from tests.factories import Tenant, insert_agent, insert_number
from voxline.engine.runner import Engine
from voxline.runtime import Runtime
from voxline.storage.db import Database

INBOUND = "+14155551001"


async def test_a_call_created_while_draining_stays_queued_for_other_workers(
    phone: Phone, engine: Engine
) -> None:
    placed = await phone.call("+14155550100")
    assert placed.status_code == 201
    # Dialed here while the engine takes calls.
    async with asyncio.timeout(10):
        while (await phone.get(placed.json()["data"]["id"]))["status"] == "queued":  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    engine.stop_claiming()
    created = await phone.call("+14155550100")
    assert created.status_code == 201, created.text
    call_id = created.json()["data"]["id"]
    # Several dispatcher polls (0.1 s) later, nobody here dialed it.
    await asyncio.sleep(0.6)
    assert (await phone.get(call_id))["status"] == "queued"
    assert call_id not in {c.request.call_id for c in engine.sandbox.calls.values()}


async def test_a_sandbox_call_in_is_refused_while_draining(
    db: Database, tenant: Tenant, engine_client: httpx.AsyncClient, engine: Engine
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, INBOUND, inbound_agent_id=agent_id)
    runtime: Runtime = engine_client._transport.app.state.runtime  # type: ignore[attr-defined]

    runtime.begin_draining()
    refused = await engine_client.post(
        f"{API}/sandbox/call-in", json={"to_number": INBOUND}, headers=tenant.headers
    )
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert not engine.claiming
    listed = await engine_client.get(f"{API}/calls", headers=tenant.headers)
    assert listed.json()["data"] == []
