"""An engine running against the test database, and an API client wired to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from tests.conftest import API
from tests.factories import Tenant, app_for, insert_agent, insert_number
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database

TIME_SCALE = 0.02
# An engine placing audio-mode sandbox calls with the local models (espeak for the voices),
# ten times faster than real time.
AUDIO_SANDBOX: dict[str, object] = {
    "sandbox_mode": "audio",
    "sandbox_time_scale": 0.1,
    "tts_engine": "espeak",
    "engine_poll_seconds": 0.1,
    "engine_drain_seconds": 0.5,
}


@pytest.fixture
def engine_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sandbox_time_scale": TIME_SCALE,
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
            "placement_backoff_seconds": 0.05,
        }
    )


@pytest.fixture
async def engine(db: Database, engine_settings: Settings) -> AsyncIterator[Engine]:
    running = Engine(db, engine_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    yield running
    stop.set()
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def engine_client(
    db: Database, engine_settings: Settings, engine: Engine
) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(engine_settings, db=db, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield http


class Phone:
    """A tenant with an agent and a sandbox number, placing calls through the API."""

    def __init__(self, client: httpx.AsyncClient, tenant: Tenant, agent_id: str) -> None:
        self.client = client
        self.tenant = tenant
        self.agent_id = agent_id

    async def call(self, to: str, **body: object) -> httpx.Response:
        payload = {"agent_id": self.agent_id, "phone_number": to, **body}
        return await self.client.post(f"{API}/calls", json=payload, headers=self.tenant.headers)

    async def get(self, call_id: str) -> dict[str, object]:
        response = await self.client.get(f"{API}/calls/{call_id}", headers=self.tenant.headers)
        assert response.status_code == 200, response.text
        data: dict[str, object] = response.json()["data"]
        return data

    async def wait_finished(self, call_id: str, within: float = 30) -> dict[str, object]:
        """Poll until the call has ended and been finalized (it then has a summary)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        seen: list[object] = []
        while True:
            call = await self.get(call_id)
            if not seen or seen[-1] != call["status"]:
                seen.append(call["status"])
            if call["summary"] is not None:
                call["_seen"] = seen
                return call
            assert loop.time() < deadline, f"call did not finish: {call}"
            await asyncio.sleep(0.05)


SCRIPT = (
    "You are Ava, booking solar consultations for {{company}}.\n"
    "- I'm calling about your free solar consultation, {{first_name}}.\n"
    "- Would {{appointment_time}} work for a short visit?"
)


@pytest.fixture
async def phone(db: Database, tenant: Tenant, engine_client: httpx.AsyncClient) -> Phone:
    agent_id = await insert_agent(
        db, tenant.org_id, system_prompt=SCRIPT, greeting="Hi {{first_name}}, this is Ava."
    )
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent_id)
    return Phone(engine_client, tenant, agent_id)


def money(value: object) -> Decimal:
    return Decimal(str(value))
