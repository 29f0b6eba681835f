"""The do-not-call list in the engine: checked again before dialing, and filled by contacts
who ask not to be called again."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.engine.conftest import Phone
from tests.engine.test_scheduling import FlakyProvider
from tests.factories import insert_agent, make_tenant
from voxline.config import Settings
from voxline.engine.dispatcher import Dispatcher
from voxline.engine.wakeup import Wakeups
from voxline.services import dnc
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow
from voxline.telephony.registry import ProviderRegistry

STOPS_CALLS = "+14155550112"


async def queued_call(db: Database, org_id: str, to: str) -> str:
    agent = await insert_agent(db, org_id)
    call_id = str(uuid.uuid4())
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            calls.insert().values(
                id=call_id,
                organization_id=org_id,
                agent_id=agent,
                direction="outbound",
                status="queued",
                phone_number=to,
                from_number="+14155551000",
                provider_type="sandbox",
                variables={},
                settings={},
                context={},
                attempts=0,
                not_before=now,
                created_at=now,
                updated_at=now,
            )
        )
    return call_id


@pytest.mark.parametrize("listed", [True, False])
async def test_a_number_listed_after_its_call_was_queued_is_not_dialed(
    db: Database, settings: Settings, listed: bool
) -> None:
    tenant = await make_tenant(db)
    call_id = await queued_call(db, tenant.org_id, "+14155550100")
    if listed:
        await dnc.add(db, tenant.org_id, "+14155550100", "asked by letter")
    provider = FlakyProvider([])
    dispatcher = Dispatcher(db, settings, ProviderRegistry({"sandbox": provider}), Wakeups(), "w1")
    for claimed in await dispatcher._claim():
        assert await dispatcher.place(claimed) is None
    async with db.read() as conn:
        row = (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()
    if listed:
        assert provider.attempts == []
        assert (row.status, row.end_reason) == ("failed", "rejected")
        assert row.context["last_error"] == "do_not_call"
    else:
        assert provider.attempts == [call_id]
        assert row.placement_state == "placed"


async def test_another_organizations_list_does_not_stop_a_call(
    db: Database, settings: Settings
) -> None:
    tenant = await make_tenant(db, "Acme")
    other = await make_tenant(db, "Globex")
    call_id = await queued_call(db, tenant.org_id, "+14155550100")
    await dnc.add(db, other.org_id, "+14155550100")
    provider = FlakyProvider([])
    dispatcher = Dispatcher(db, settings, ProviderRegistry({"sandbox": provider}), Wakeups(), "w1")
    for claimed in await dispatcher._claim():
        await dispatcher.place(claimed)
    assert provider.attempts == [call_id]


async def dnc_entries(phone: Phone) -> list[dict[str, object]]:
    response = await phone.client.get(f"{API}/dnc", headers=phone.tenant.headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, object]] = response.json()["data"]
    return entries


@pytest.mark.parametrize("opted_in", [True, False])
async def test_a_contact_who_asks_not_to_be_called_is_listed_when_the_agent_opted_in(
    phone: Phone, opted_in: bool
) -> None:
    patched = await phone.client.patch(
        f"{API}/agents/{phone.agent_id}",
        json={"dnc_on_request": opted_in},
        headers=phone.tenant.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["dnc_on_request"] is opted_in

    created = await phone.call(STOPS_CALLS, variables={"first_name": "Sam"})
    assert created.status_code == 201, created.text
    call_id = created.json()["data"]["id"]
    call = await phone.wait_finished(call_id)
    assert call["status"] == "completed"

    entries = await dnc_entries(phone)
    again = await phone.call(STOPS_CALLS)
    if opted_in:
        assert [(e["phone_number"], e["reason"]) for e in entries] == [
            (STOPS_CALLS, f"asked during call {call_id}")
        ]
        assert again.status_code == 422, again.text
        assert again.json()["error"]["details"]["reason"] == "do_not_call"
    else:
        assert entries == []
        assert again.status_code == 201, again.text


async def test_a_contact_who_does_not_ask_is_not_listed(phone: Phone) -> None:
    await phone.client.patch(
        f"{API}/agents/{phone.agent_id}",
        json={"dnc_on_request": True},
        headers=phone.tenant.headers,
    )
    created = await phone.call("+14155550100", variables={"first_name": "Jane"})
    await phone.wait_finished(created.json()["data"]["id"])
    assert await dnc_entries(phone) == []
