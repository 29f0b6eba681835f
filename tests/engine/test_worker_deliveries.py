"""Two real ``voxline worker`` processes on PostgreSQL deliver the ``call.ended`` of a burst
of calls to a slow receiver; one is killed with SIGKILL mid-delivery. Every call's
``call.ended`` still arrives, always with the same event id; 400 calls make exactly 400
``call.ended`` events."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.e2e.conftest import _free_port
from tests.emulators.webhook_receiver import WebhookReceiver
from tests.engine.deployment import start_voxline as _start
from tests.engine.test_workers import _setup, deployment  # noqa: F401 - a fixture
from voxline.config import load_settings
from voxline.services import webhooks
from voxline.storage.db import Database
from voxline.storage.tables import events

pytestmark = pytest.mark.slow


async def _scenario(url: str, env: dict[str, str], calls: int) -> None:
    receiver = WebhookReceiver(delay=0.05)
    await receiver.start()
    api_key, agent_id = await _setup(url)
    db = Database(url)
    settings = load_settings(
        database_url=url, secret_key=env["VOXLINE_SECRET_KEY"], webhooks_allow_private_networks=True
    )
    async with db.read() as conn:
        org_id = (await conn.execute(sa.text("SELECT id FROM organizations"))).scalar_one()
    _, secret = await webhooks.create_endpoint(
        db, settings, org_id, url=receiver.url, event_types=["call.ended"]
    )
    receiver.secrets.append(secret)
    port = _free_port()
    api = _start({**env, "VOXLINE_PORT": str(port)}, "serve", "--no-engine")
    workers = [_start(env, "worker"), _start(env, "worker")]
    processes = [api, *workers]
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
        ) as http:
            for _ in range(600):  # a shared, busy machine may take long to start it
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("API did not start")
            numbers = ["+14155550100", "+14155550101", "+14155550103", "+14155550105"]
            ids = []
            for index in range(calls):
                response = await http.post(
                    f"{API}/calls",
                    json={"agent_id": agent_id, "phone_number": numbers[index % 4]},
                )
                assert response.status_code == 201, response.text
                ids.append(response.json()["data"]["id"])
        await receiver.wait_for(lambda: len(receiver.received) >= calls // 4, within=120)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()

        def ended() -> set[str]:
            return {e["data"]["call"]["id"] for e in receiver.events("call.ended")}

        await receiver.wait_for(lambda: ended() >= set(ids), within=400)
        await asyncio.sleep(1.0)
        assert receiver.refused == []
        per_call = collections.defaultdict(set)
        for event in receiver.events("call.ended"):
            per_call[event["data"]["call"]["id"]].add(event["id"])
        assert all(len(per_call[i]) == 1 for i in ids)  # duplicates share their id
        async with db.read() as conn:
            stored = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(events)
                    .where(events.c.type == "call.ended")
                )
            ).scalar_one()
        assert stored == calls
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        await receiver.stop()
        await db.dispose()


def test_a_killed_worker_loses_no_delivery(
    deployment: tuple[str, dict[str, str]],  # noqa: F811
) -> None:
    calls = 400
    url, env = deployment
    env = {
        **env,
        "VOXLINE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "VOXLINE_WEBHOOKS_LEASE_SECONDS": "2",
        "VOXLINE_WEBHOOKS_RETRY_BASE_SECONDS": "0.1",
        "VOXLINE_WEBHOOKS_RETRY_MAX_SECONDS": "1",
        "VOXLINE_WEBHOOKS_MAX_ATTEMPTS": "50",
    }
    started = time.monotonic()
    asyncio.run(_scenario(url, env, calls))
    assert time.monotonic() - started < 600
