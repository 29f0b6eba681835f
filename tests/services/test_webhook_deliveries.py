"""Claiming deliveries (leases, per-endpoint bounds), recording attempts (backoff, attempt
cap, endpoint health) and the outbox's events for calls that end without connecting."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import sqlalchemy as sa

from tests.factories import Tenant, insert_agent
from voxline.config import Settings
from voxline.domain.webhooks import DeliveryStatus
from voxline.engine.finalizer import Finalizer
from voxline.engine.wakeup import Wakeups
from voxline.services import webhook_deliveries as deliveries
from voxline.services import webhooks
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.storage.tables import events, webhook_deliveries, webhook_endpoints
from voxline.storage.types import utcnow


async def endpoint(db: Database, settings: Settings, tenant: Tenant) -> str:
    created, _ = await webhooks.create_endpoint(
        db, settings, tenant.org_id, url="https://8.8.8.8/hook", event_types=["call.ended"]
    )
    return created.id


async def queue_tests(db: Database, tenant: Tenant, endpoint_id: str, n: int) -> None:
    for _ in range(n):
        await webhooks.send_test(db, tenant.org_id, endpoint_id)


async def claim(
    db: Database, worker: str, lease: float = 30, busy: dict[str, int] | None = None
) -> list[deliveries.Claimed]:
    return await deliveries.claim_due(
        db, worker_id=worker, lease_seconds=lease, limit=10, per_endpoint=3, busy=busy or {}
    )


async def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_expires(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    endpoint_id = await endpoint(db, settings, tenant)
    await queue_tests(db, tenant, endpoint_id, 1)
    first = await claim(db, "worker-a", lease=1)
    assert len(first) == 1
    assert await claim(db, "worker-b") == []
    await asyncio.sleep(1.1)  # worker-a "died" mid-request
    again = await claim(db, "worker-b")
    assert [c.id for c in again] == [first[0].id]
    assert again[0].event_id == first[0].event_id
    # worker-a's late answer is ignored: worker-b owns the delivery now.
    await deliveries.record_attempt(
        db, settings, first[0], worker_id="worker-a", status_code=204, error=None
    )
    async with db.read() as conn:
        row = (await conn.execute(sa.select(webhook_deliveries))).one()
    assert row.status == "pending" and row.lease_owner == "worker-b"
    done = await deliveries.record_attempt(
        db, settings, again[0], worker_id="worker-b", status_code=200, error=None
    )
    assert done is DeliveryStatus.DELIVERED


async def test_claims_are_bounded_per_endpoint(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    slow = await endpoint(db, settings, tenant)
    fast = await endpoint(db, settings, tenant)
    await queue_tests(db, tenant, slow, 6)
    await queue_tests(db, tenant, fast, 2)
    claimed = await claim(db, "w", busy={slow: 1})
    by_endpoint = {e: sum(c.endpoint_id == e for c in claimed) for e in (slow, fast)}
    assert by_endpoint == {slow: 2, fast: 2}
    assert await claim(db, "w", busy={slow: 3}) == []


async def test_failures_back_off_then_fail_at_the_attempt_cap(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    capped = settings.model_copy(
        update={"webhooks_max_attempts": 2, "webhooks_retry_base_seconds": 100}
    )
    endpoint_id = await endpoint(db, capped, tenant)
    await queue_tests(db, tenant, endpoint_id, 1)
    (item,) = await claim(db, "w")
    before = utcnow()
    status = await deliveries.record_attempt(
        db, capped, item, worker_id="w", status_code=500, error="HTTP 500"
    )
    assert status is DeliveryStatus.PENDING
    async with db.read() as conn:
        row = (await conn.execute(sa.select(webhook_deliveries))).one()
        failing = (await conn.execute(sa.select(webhook_endpoints.c.failing_since))).scalar_one()
    assert before + timedelta(seconds=79) < row.next_attempt_at < before + timedelta(seconds=121)
    assert row.attempts == 1 and row.last_status_code == 500 and failing is not None
    assert await claim(db, "w") == []  # not due yet
    async with db.write() as conn:
        await conn.execute(webhook_deliveries.update().values(next_attempt_at=utcnow()))
    (item,) = await claim(db, "w")
    status = await deliveries.record_attempt(
        db, capped, item, worker_id="w", status_code=None, error="timeout"
    )
    assert status is DeliveryStatus.FAILED


async def test_an_endpoint_failing_for_days_is_disabled(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    endpoint_id = await endpoint(db, settings, tenant)
    await queue_tests(db, tenant, endpoint_id, 1)
    async with db.write() as conn:
        await conn.execute(
            webhook_endpoints.update().values(failing_since=utcnow() - timedelta(days=6))
        )
    (item,) = await claim(db, "w")
    await deliveries.record_attempt(db, settings, item, worker_id="w", status_code=502, error="x")
    shown = await webhooks.get_endpoint(db, tenant.org_id, endpoint_id)
    assert shown.enabled is False and shown.disabled_reason == "failing"
    enabled = await webhooks.update_endpoint(
        db, settings, tenant.org_id, endpoint_id, webhooks.EndpointChanges(enabled=True)
    )
    assert enabled.enabled and enabled.failing_since is None and enabled.disabled_reason is None


async def test_a_turned_away_inbound_call_gets_one_call_ended_and_one_call_analyzed(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    await endpoint(db, settings, tenant)
    call_id = str(uuid.uuid4())
    now = utcnow()
    async with db.write() as conn:
        await CALL_STORE.insert(
            conn,
            dict(
                id=call_id,
                organization_id=tenant.org_id,
                agent_id=None,
                direction="inbound",
                status="failed",
                phone_number="+14155550123",
                variables={},
                settings={"recording_enabled": False, "transcription_enabled": False},
                context={"last_error": "no agent"},
                end_reason="rejected",
                ended_at=now,
                attempts=0,
                created_at=now,
                updated_at=now,
            ),
        )
    finalizer = Finalizer(db, settings, Wakeups())
    assert await finalizer.finalize(call_id) == 1
    assert await finalizer.finalize(call_id) == 0
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(events.c.type, events.c.seq, events.c.payload)
                .where(events.c.call_id == call_id)
                .order_by(events.c.seq)
            )
        ).all()
        fanned = (
            await conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries))
        ).scalar_one()
    assert [(r.type, r.seq) for r in rows] == [("call.ended", 1), ("call.analyzed", 2)]
    assert rows[0].payload["call"]["status"] == "failed"
    assert rows[0].payload["call"]["summary"]
    assert fanned == 1  # the endpoint subscribes to call.ended only


async def test_a_call_deleted_before_its_finalization_still_gets_one_call_ended(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    call_id = str(uuid.uuid4())
    now = utcnow()
    async with db.write() as conn:
        await CALL_STORE.insert(
            conn,
            dict(
                id=call_id,
                organization_id=tenant.org_id,
                agent_id=None,
                direction="outbound",
                status="busy",
                phone_number="+14155550101",
                variables={},
                settings={},
                context={},
                end_reason="busy",
                ended_at=now,
                attempts=0,
                created_at=now,
                updated_at=now,
            ),
        )
    async with db.write() as conn:
        await CALL_STORE.delete(conn, [call_id])
    assert await Finalizer(db, settings, Wakeups()).finalize(call_id) == 0
    async with db.read() as conn:
        kinds = (
            (await conn.execute(sa.select(events.c.type).where(events.c.call_id == call_id)))
            .scalars()
            .all()
        )
    assert kinds == ["call.ended"]


async def test_a_new_call_writes_call_queued_in_its_transaction(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)
    call_id = str(uuid.uuid4())
    now = utcnow()
    values = dict(
        id=call_id,
        organization_id=tenant.org_id,
        agent_id=agent_id,
        direction="outbound",
        status="queued",
        phone_number="+14155550100",
        variables={},
        settings={},
        context={},
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    try:
        async with db.write() as conn:
            await CALL_STORE.insert(conn, values)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    async with db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(events))).scalar() == 0
    async with db.write() as conn:
        await CALL_STORE.insert(conn, values)
    async with db.read() as conn:
        row = (await conn.execute(sa.select(events))).one()
    assert (row.type, row.seq, row.payload["call"]["id"]) == ("call.queued", 1, call_id)
