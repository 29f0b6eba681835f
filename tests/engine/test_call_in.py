"""``POST /sandbox/call-in``: a sandbox persona calls a number, through inbound routing."""

from __future__ import annotations

import httpx

from tests.conftest import API
from tests.engine.conftest import SCRIPT, Phone
from tests.factories import Tenant, insert_agent, insert_number
from voxline.engine.runner import Engine
from voxline.services.provider_calls import UNASSIGNED_NUMBER
from voxline.storage.db import Database

CALL_IN = f"{API}/sandbox/call-in"
INBOUND = "+14155551001"


async def call_in(client: httpx.AsyncClient, tenant: Tenant, **body: object) -> httpx.Response:
    return await client.post(CALL_IN, json=body, headers=tenant.headers)


async def test_the_numbers_inbound_agent_answers_a_persona_calling_in(
    db: Database, tenant: Tenant, engine_client: httpx.AsyncClient, engine: Engine
) -> None:
    agent_id = await insert_agent(db, tenant.org_id, system_prompt=SCRIPT, greeting="Hi, Ava here.")
    await insert_number(db, tenant.org_id, INBOUND, inbound_agent_id=agent_id)
    response = await call_in(engine_client, tenant, to_number=INBOUND)
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert created["direction"] == "inbound" and created["status"] == "ringing"
    assert created["agent_id"] == agent_id
    # The talker calls from its own sandbox number, in the called number's area code.
    assert created["phone_number"] == "+14155550100" and created["from_number"] == INBOUND

    call = await Phone(engine_client, tenant, agent_id).wait_finished(created["id"])
    assert call["status"] == "completed" and call["direction"] == "inbound"
    assert "in_progress" in call["_seen"]  # type: ignore[operator]
    said = (
        await engine_client.get(f"{API}/calls/{created['id']}/transcript", headers=tenant.headers)
    ).json()["data"]
    speakers = {turn["speaker"] for turn in said["transcript"]}
    assert speakers == {"agent", "contact"}
    assert said["transcript"][0]["text"] == "Hi, Ava here."


async def test_a_chosen_persona_calls_and_one_that_cannot_call_is_refused(
    db: Database, tenant: Tenant, engine_client: httpx.AsyncClient, engine: Engine
) -> None:
    agent_id = await insert_agent(db, tenant.org_id, system_prompt=SCRIPT)
    await insert_number(db, tenant.org_id, INBOUND, inbound_agent_id=agent_id)
    hangs_up = await call_in(engine_client, tenant, to_number=INBOUND, persona="hangs_up")
    assert hangs_up.status_code == 201, hangs_up.text
    call = await Phone(engine_client, tenant, agent_id).wait_finished(hangs_up.json()["data"]["id"])
    assert call["status"] == "completed" and call["end_reason"] == "contact_hangup"
    assert call["phone_number"] == "+14155550105"
    for persona in ("busy", "voicemail", "nobody"):
        refused = await call_in(engine_client, tenant, to_number=INBOUND, persona=persona)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"]["field"] == "persona"


async def test_a_number_no_agent_takes_gets_the_carriers_no_agent_outcome(
    db: Database, tenant: Tenant, engine_client: httpx.AsyncClient, engine: Engine
) -> None:
    await insert_number(db, tenant.org_id, INBOUND)
    response = await call_in(engine_client, tenant, to_number=INBOUND)
    assert response.status_code == 201, response.text
    call = response.json()["data"]
    assert call["status"] == "failed" and call["end_reason"] == "rejected"
    assert call["agent_id"] is None and call["direction"] == "inbound"
    assert call["context"]["last_error"] == UNASSIGNED_NUMBER


async def test_only_the_organizations_own_sandbox_numbers_can_be_called_in(
    db: Database,
    tenant: Tenant,
    other_tenant: Tenant,
    engine_client: httpx.AsyncClient,
    engine: Engine,
) -> None:
    await insert_number(db, other_tenant.org_id, INBOUND)
    await insert_number(db, tenant.org_id, "+14155550777", provider_type="twilio")
    theirs = await call_in(engine_client, tenant, to_number=INBOUND)
    assert theirs.status_code == 404, theirs.text
    unknown = await call_in(engine_client, tenant, to_number="+14155559999")
    assert unknown.status_code == 404
    carrier = await call_in(engine_client, tenant, to_number="+14155550777")
    assert carrier.status_code == 422, carrier.text
    assert carrier.json()["error"]["details"]["field"] == "to_number"
    malformed = await call_in(engine_client, tenant, to_number="4155551001")
    assert malformed.status_code == 422
    listed = await engine_client.get(f"{API}/calls", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_call_in_needs_a_process_with_an_engine(
    db: Database, tenant: Tenant, client: httpx.AsyncClient
) -> None:
    await insert_number(db, tenant.org_id, INBOUND)
    response = await call_in(client, tenant, to_number=INBOUND)
    assert response.status_code == 409, response.text
