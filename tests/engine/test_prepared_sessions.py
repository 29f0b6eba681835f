"""The sessions a process prepares while calls ring: bounded in number, dropped when the
call ends or after ``prepared_session_seconds``."""

from __future__ import annotations

import asyncio
import uuid

from tests.factories import Tenant, insert_agent, insert_call
from voxline.config import Settings
from voxline.engine.sessions import VoiceSessions
from voxline.storage.db import Database


def sessions(db: Database, settings: Settings, **limits: object) -> VoiceSessions:
    return VoiceSessions(db, settings.model_copy(update=limits))


async def ringing_call(db: Database, tenant: Tenant) -> str:
    agent_id = await insert_agent(db, tenant.org_id, greeting=None)
    return await insert_call(db, tenant.org_id, agent_id, status="ringing")


async def test_at_most_the_configured_number_of_sessions_are_kept(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    kept = sessions(db, settings, prepared_sessions_max=2)
    first, second, third = [await ringing_call(db, tenant) for _ in range(3)]
    for call_id in (first, second, third):
        kept.prepare_ahead(call_id)
    assert [kept.prepared(c) for c in (first, second, third)] == [True, True, False]
    kept.drop(first)
    kept.prepare_ahead(third)
    assert [kept.prepared(c) for c in (first, second, third)] == [False, True, True]
    await kept.aclose()
    assert not any(kept.prepared(c) for c in (first, second, third))


async def test_a_prepared_session_is_dropped_after_its_time(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    brief = sessions(db, settings, prepared_session_seconds=0.05)
    lasting = sessions(db, settings, prepared_session_seconds=600)
    call_id = await ringing_call(db, tenant)
    brief.prepare_ahead(call_id)
    lasting.prepare_ahead(call_id)
    assert brief.prepared(call_id) and lasting.prepared(call_id)
    async with asyncio.timeout(30):
        while brief.prepared(call_id):  # noqa: ASYNC110 - polls a flag
            await asyncio.sleep(0.02)
    assert lasting.prepared(call_id)
    await lasting.aclose()


async def test_preparing_twice_keeps_one_session_and_an_unknown_call_is_harmless(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    kept = sessions(db, settings, prepared_sessions_max=1)
    call_id = await ringing_call(db, tenant)
    kept.prepare_ahead(call_id)
    kept.prepare_ahead(call_id)  # a replayed ringing event
    assert kept.prepared(call_id)
    kept.drop(call_id)
    unknown = str(uuid.uuid4())
    kept.prepare_ahead(unknown)
    assert kept.prepared(unknown)
    kept.drop(unknown)
    kept.drop(unknown)  # dropping twice is harmless
    assert not kept.prepared(unknown)
    await kept.aclose()
