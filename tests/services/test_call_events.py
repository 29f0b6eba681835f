"""Applying events: the times they report are clamped to the call's life so far."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tests.factories import Tenant, insert_agent
from voxline.domain.calls import CallEvent
from voxline.services.call_events import apply_event
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderEvent


async def _ringing_call(db: Database, tenant: Tenant, provider: str, created_ago: float) -> Any:
    agent_id = await insert_agent(db, tenant.org_id)
    now = utcnow()
    call_id = str(uuid.uuid4())
    async with db.write() as conn:
        await conn.execute(
            calls.insert().values(
                id=call_id,
                organization_id=tenant.org_id,
                agent_id=agent_id,
                direction="outbound",
                status="ringing",
                phone_number="+14155550123",
                provider_type=provider,
                variables={},
                settings={"max_duration_seconds": 60},
                context={},
                lease_owner="dialer",
                lease_expires_at=now + timedelta(seconds=30),
                placement_state="placed",
                attempts=1,
                created_at=now - timedelta(seconds=created_ago),
                updated_at=now,
            )
        )
        return (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()


async def _row(db: Database, call_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()


async def test_a_voicemail_answer_time_before_the_call_existed_becomes_its_creation(
    db: Database, tenant: Tenant
) -> None:
    call = await _ringing_call(db, tenant, "telnyx", created_ago=30)
    years_ago = datetime.now(UTC) - timedelta(days=900)
    event = ProviderEvent(
        call_id=call.id,
        event=CallEvent.MACHINE_DETECTED,
        at=utcnow(),
        details={"answered_at": years_ago.isoformat().replace("+00:00", "Z")},
    )
    assert await apply_event(db, event) is not None
    assert (await _row(db, call.id)).started_at == call.created_at


async def test_a_voicemail_answer_time_within_the_call_is_kept(
    db: Database, tenant: Tenant
) -> None:
    call = await _ringing_call(db, tenant, "telnyx", created_ago=30)
    answered = call.created_at + timedelta(seconds=12)
    event = ProviderEvent(
        call_id=call.id,
        event=CallEvent.MACHINE_DETECTED,
        at=utcnow(),
        details={"answered_at": answered.isoformat()},
    )
    await apply_event(db, event)
    assert (await _row(db, call.id)).started_at == answered


async def test_a_provider_calls_answer_releases_its_lease_for_the_media_host(
    db: Database, tenant: Tenant
) -> None:
    provider_call = await _ringing_call(db, tenant, "plivo", created_ago=5)
    sandbox_call = await _ringing_call(db, tenant, "sandbox", created_ago=5)
    for call in (provider_call, sandbox_call):
        await apply_event(db, ProviderEvent(call_id=call.id, event=CallEvent.ANSWERED, at=utcnow()))
    released = await _row(db, provider_call.id)
    assert released.status == "in_progress"
    assert released.lease_owner is None and released.lease_expires_at is None
    # The engine hosting a sandbox call keeps holding it.
    assert (await _row(db, sandbox_call.id)).lease_owner == "dialer"
