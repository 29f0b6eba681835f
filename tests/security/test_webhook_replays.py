"""A captured webhook, replayed signature and all, is recognised and changes nothing; a new
event of the same call still applies, and a receipt is only kept for its retention."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.emulators.telnyx import API_KEY, TelnyxEmulator
from tests.factories import Tenant, insert_agent
from tests.security.webhook_peers import (
    call_status,
    import_line,
    post_plivo,
    post_twilio,
    ringing_call,
    telnyx_event,
)
from voxline.config import Settings
from voxline.services import webhook_receipts
from voxline.storage.db import Database
from voxline.storage.tables import webhook_receipts as receipts_table

NUMBER = "+14155550021"


async def _receipts(db: Database) -> int:
    async with db.read() as conn:
        count = await conn.execute(sa.select(sa.func.count()).select_from(receipts_table))
        return int(count.scalar_one())


@pytest.fixture
async def telnyx_api() -> AsyncIterator[TelnyxEmulator]:
    emulator = TelnyxEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


async def test_a_replayed_inbound_telnyx_call_is_not_answered_twice(
    app_factory: Any, db: Database, settings: Settings, tenant: Tenant, telnyx_api: TelnyxEmulator
) -> None:
    live = settings.model_copy(update={"telnyx_api_base_url": telnyx_api.base_url})
    transport = httpx.ASGITransport(app=app_factory(live), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as client:
        imported = await client.post(
            f"{API}/telephony/numbers/import",
            json={
                "phone_number": NUMBER,
                "provider_type": "telnyx",
                "api_key": API_KEY,
                "public_key": telnyx_api.public_key,
            },
            headers=tenant.headers,
        )
        number_id = imported.json()["data"]["id"]
        agent = await insert_agent(db, tenant.org_id)
        assigned = await client.post(
            f"{API}/telephony/numbers/assign",
            json={"number_id": number_id, "agent_id": agent, "assignment_type": "inbound"},
            headers=tenant.headers,
        )
        assert assigned.status_code == 200
        parked, hook = telnyx_api.inbound("+14155559876", NUMBER, "/webhooks/telnyx/events")
        other, other_hook = telnyx_api.inbound("+14155559875", NUMBER, "/webhooks/telnyx/events")

        statuses = [
            (await client.post(h.url, content=h.body, headers=h.headers)).status_code
            for h in (hook, hook, hook, other_hook)
        ]

        assert statuses == [204, 204, 204, 204]
        # Answered once, then streamed once (AnswerCall cannot carry the media token).
        assert [action for action, _ in parked.commands] == ["answer", "streaming_start"]
        assert [action for action, _ in other.commands] == ["answer", "streaming_start"]
        listed = await client.get(f"{API}/calls?direction=inbound", headers=tenant.headers)
        assert len(listed.json()["data"]) == 2


async def test_a_replayed_telnyx_event_is_recognised_by_its_id(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    line = await import_line(client, db, tenant, "telnyx", NUMBER, "replays")
    control = f"v3:{uuid.uuid4()}"
    call_id = await ringing_call(db, line, "telnyx", control)
    event_id = str(uuid.uuid4())
    answered = telnyx_event(line, "call.answered", control, call_id, event_id=event_id)
    # Signed afresh, but the same event: Telnyx's id says so.
    again = telnyx_event(line, "call.answered", control, call_id, event_id=event_id)

    for body, headers in (answered, answered, again):
        response = await client.post("/webhooks/telnyx/events", content=body, headers=headers)
        assert response.status_code == 204
    assert await _receipts(db) == 1
    hangup = telnyx_event(line, "call.hangup", control, call_id, hangup_cause="normal_clearing")
    response = await client.post("/webhooks/telnyx/events", content=hangup[0], headers=hangup[1])
    assert response.status_code == 204
    assert await _receipts(db) == 2
    assert await call_status(client, tenant, call_id) == "completed"


async def test_replayed_twilio_and_plivo_callbacks_are_recognised(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    twilio = await import_line(client, db, tenant, "twilio", NUMBER, uuid.uuid4().hex)
    plivo = await import_line(client, db, tenant, "plivo", "+14155550022", uuid.uuid4().hex)
    sid, call_uuid = "CA" + uuid.uuid4().hex, str(uuid.uuid4())
    twilio_call = await ringing_call(db, twilio, "twilio", sid)
    plivo_call = await ringing_call(db, plivo, "plivo", call_uuid)
    ringing = [("CallSid", sid), ("CallStatus", "ringing"), ("SequenceNumber", "1")]
    busy = [("CallSid", sid), ("CallStatus", "busy"), ("SequenceNumber", "2")]
    hangup = {"CallUUID": call_uuid, "Event": "Hangup", "CallStatus": "busy"}
    base = settings.base_url

    for params in (ringing, ringing, busy, busy):
        response = await post_twilio(client, base, "/webhooks/twilio/events", params, twilio.secret)
        assert response.status_code == 204
    assert await _receipts(db) == 2
    for _ in range(2):
        response = await post_plivo(client, base, "/webhooks/plivo/events", hangup, plivo.secret)
        assert response.status_code == 204
    assert await _receipts(db) == 3
    assert await call_status(client, tenant, twilio_call) == "busy"
    assert await call_status(client, tenant, plivo_call) == "busy"


async def test_receipts_are_kept_only_for_their_retention(db: Database) -> None:
    week = timedelta(days=7)
    assert await webhook_receipts.claim(db, "twilio", "old", retention=week)
    assert not await webhook_receipts.claim(db, "twilio", "old", retention=week)
    assert await webhook_receipts.claim(db, "plivo", "old", retention=week)  # another provider

    # Retention shorter than the receipts' age: the next claim prunes them.
    assert await webhook_receipts.claim(db, "twilio", "new", retention=timedelta(microseconds=1))
    assert await webhook_receipts.claim(db, "twilio", "old", retention=week)
    await webhook_receipts.release(db, "twilio", "old")
    assert await webhook_receipts.claim(db, "twilio", "old", retention=week)
