"""Agents on an OpenAI-compatible LLM server (the emulator in the test tree), through the
engine: the brain's replies are spoken and the summary comes from the LLM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import API
from tests.emulators.llm_server import API_KEY, MODEL, EmulatedReply, LlmEmulator
from tests.engine.conftest import TIME_SCALE, Phone
from tests.factories import Tenant, app_for, insert_agent, insert_number
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database
from voxline.voice.brain.openai import STILL_THERE
from voxline.voice.stages import APOLOGY


@pytest.fixture
async def llm() -> AsyncIterator[LlmEmulator]:
    emulator = LlmEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def llm_phone(
    db: Database, settings: Settings, tenant: Tenant, llm: LlmEmulator
) -> AsyncIterator[Phone]:
    base_url = llm.base_url
    llm_settings = settings.model_copy(
        update={
            "llm_base_url": base_url,
            "llm_api_key": API_KEY,
            "llm_model": MODEL,
            "sandbox_time_scale": TIME_SCALE,
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
        }
    )
    engine = Engine(db, llm_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    agent_id = await insert_agent(
        db,
        tenant.org_id,
        model=MODEL,
        system_prompt="You are Ava from {{company}}. Confirm the appointment.",
        greeting="Hi {{first_name}}, this is Ava.",
    )
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent_id)
    app = app_for(llm_settings, db=db, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield Phone(http, tenant, agent_id)
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_llm_agent_converses_ends_the_call_and_summarizes(
    llm_phone: Phone, llm: LlmEmulator
) -> None:
    llm.queue(
        EmulatedReply("I'm calling to confirm your visit on Thursday at two."),
        EmulatedReply("Perfect, see you then. Goodbye!", end_call=True),
        EmulatedReply("Jane confirmed her Thursday appointment."),  # the summary
    )
    created = await llm_phone.call(
        "+14155550100", variables={"first_name": "Jane", "company": "Voxline Dental"}
    )
    call_id = created.json()["data"]["id"]
    call = await llm_phone.wait_finished(call_id)
    assert call["status"] == "completed"
    assert call["end_reason"] == "agent_hangup"
    assert call["summary"] == "Jane confirmed her Thursday appointment."

    response = await llm_phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=llm_phone.tenant.headers
    )
    agent = [t["text"] for t in response.json()["data"]["transcript"] if t["speaker"] == "agent"]
    assert agent == [
        "Hi Jane, this is Ava.",
        "I'm calling to confirm your visit on Thursday at two.",
        "Perfect, see you then. Goodbye!",
    ]
    first = llm.requests[0]
    assert first["messages"][0] == {
        "role": "system",
        "content": "You are Ava from Voxline Dental. Confirm the appointment.",
    }
    assert first["messages"][-1]["role"] == "user"
    assert first["temperature"] == 0.3


async def test_an_llm_that_fails_mid_call_gets_an_apology_and_a_provider_error(
    llm_phone: Phone, llm: LlmEmulator
) -> None:
    # The first reply fails and so does its one retry.
    llm.queue(EmulatedReply(status=500), EmulatedReply(status=500))
    created = await llm_phone.call(
        "+14155550100", variables={"first_name": "Jane", "company": "Voxline Dental"}
    )
    call_id = created.json()["data"]["id"]
    call = await llm_phone.wait_finished(call_id)

    assert call["status"] == "completed"
    assert call["end_reason"] == "provider_error"
    assert call["context"]["last_error"] == "brain failed: LLM server answered HTTP 500"
    response = await llm_phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=llm_phone.tenant.headers
    )
    turns = response.json()["data"]["transcript"]
    # On a loaded machine the scaled silence timeout may prompt once before the contact's
    # first words arrive; that prompt is not the brain's reply.
    agent = [t["text"] for t in turns if t["speaker"] == "agent" and t["text"] != STILL_THERE]
    assert agent == ["Hi Jane, this is Ava.", APOLOGY]
    assert "contact" in [t["speaker"] for t in turns]


async def test_an_llm_failure_that_a_retry_cures_goes_unnoticed(
    llm_phone: Phone, llm: LlmEmulator
) -> None:
    llm.queue(
        EmulatedReply(status=503),
        EmulatedReply("Perfect, see you on Thursday. Goodbye!", end_call=True),
    )
    created = await llm_phone.call(
        "+14155550100", variables={"first_name": "Jane", "company": "Voxline Dental"}
    )
    call_id = created.json()["data"]["id"]
    call = await llm_phone.wait_finished(call_id)

    assert call["status"] == "completed"
    assert call["end_reason"] == "agent_hangup"
    assert "last_error" not in call["context"]
    response = await llm_phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=llm_phone.tenant.headers
    )
    turns = response.json()["data"]["transcript"]
    agent = [t["text"] for t in turns if t["speaker"] == "agent" and t["text"] != STILL_THERE]
    assert agent == ["Hi Jane, this is Ava.", "Perfect, see you on Thursday. Goodbye!"]
