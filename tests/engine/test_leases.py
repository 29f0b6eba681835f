"""Leases: every hosted live call keeps its lease, and recovery takes the oldest first."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from tests.factories import Tenant, insert_agent
from voxline.engine.claims import expired_leases
from voxline.engine.leases import LeaseKeeper
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow


async def _call(
    db: Database,
    tenant: Tenant,
    *,
    status: str = "in_progress",
    provider: str = "twilio",
    placement: str | None = "placed",
    lease_expired_ago: float | None = None,
) -> str:
    agent_id = await insert_agent(db, tenant.org_id)
    now = utcnow()
    call_id = str(uuid.uuid4())
    lease = None if lease_expired_ago is None else now - timedelta(seconds=lease_expired_ago)
    async with db.write() as conn:
        await conn.execute(
            calls.insert().values(
                id=call_id,
                organization_id=tenant.org_id,
                agent_id=agent_id,
                direction="outbound",
                status=status,
                phone_number="+14155550123",
                provider_type=provider,
                variables={},
                settings={},
                context={},
                started_at=now if status == "in_progress" else None,
                lease_owner=None if lease is None else "someone",
                lease_expires_at=lease,
                placement_state=placement,
                attempts=1,
                created_at=now - timedelta(minutes=5),
                updated_at=now,
            )
        )
    return call_id


async def _row(db: Database, call_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()


async def _taken_over(db: Database, call_id: str, owner: str) -> Any:
    """The call's row once ``owner`` holds its lease (rounds between renewals are 1,000 s
    here, so only the prompt takeover of a new hold can get there)."""
    for _ in range(600):
        row = await _row(db, call_id)
        if row.lease_owner == owner:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the lease was not taken over")


async def test_a_hosted_provider_call_is_taken_over_and_kept_renewed(
    db: Database, tenant: Tenant
) -> None:
    call_id = await _call(db, tenant)  # answered, no lease yet: nobody hosts it
    keeper = LeaseKeeper(db, "media-node", lease_seconds=3000)
    try:
        async with keeper.hold(call_id):
            assert keeper.hosted == [call_id]
            held = await _taken_over(db, call_id, "media-node")
            assert held.lease_expires_at > utcnow() + timedelta(seconds=2000)
            async with db.write() as conn:
                await conn.execute(
                    calls.update().where(calls.c.id == call_id).values(lease_expires_at=utcnow())
                )
            await keeper.renew()
            assert (await _row(db, call_id)).lease_expires_at > utcnow() + timedelta(seconds=2000)
        assert keeper.hosted == []
    finally:
        await keeper.aclose()


async def test_a_call_no_longer_hosted_or_ended_is_not_renewed(
    db: Database, tenant: Tenant
) -> None:
    ended = await _call(db, tenant, status="completed")
    released = await _call(db, tenant)
    keeper = LeaseKeeper(db, "media-node", lease_seconds=3000)
    try:
        async with keeper.hold(ended):
            await keeper.renew()
        async with keeper.hold(released):
            await _taken_over(db, released, "media-node")
        async with db.write() as conn:
            await conn.execute(
                calls.update().where(calls.c.id == released).values(lease_expires_at=utcnow())
            )
        await keeper.renew()
    finally:
        await keeper.aclose()
    assert (await _row(db, ended)).lease_owner is None
    assert (await _row(db, released)).lease_expires_at <= utcnow()


async def test_recovery_takes_the_longest_expired_leases_first(
    db: Database, tenant: Tenant
) -> None:
    newest = await _call(db, tenant, provider="sandbox", lease_expired_ago=10)
    oldest = await _call(db, tenant, provider="sandbox", lease_expired_ago=300)
    middle = await _call(db, tenant, lease_expired_ago=60)
    assert [c.id for c in await expired_leases(db, limit=2)] == [oldest, middle]
    assert [c.id for c in await expired_leases(db)] == [oldest, middle, newest]


async def test_recovery_skips_calls_it_has_nothing_to_do_for(db: Database, tenant: Tenant) -> None:
    # Placed provider calls not yet answered, or answered and not yet hosted: their
    # deadlines end them. Live leases are not expired. None of these may fill the scan.
    await _call(db, tenant, status="ringing", lease_expired_ago=900)
    await _call(db, tenant, status="queued", lease_expired_ago=900)
    await _call(db, tenant)
    await _call(db, tenant, provider="sandbox", lease_expired_ago=-30)
    dialing = await _call(db, tenant, status="queued", placement="dialing", lease_expired_ago=5)
    assert [c.id for c in await expired_leases(db, limit=1)] == [dialing]
