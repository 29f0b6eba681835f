"""Concurrency limits, fairness and retries, through the running engine (volume:
``test_scheduling_volume.py``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from tests.engine.conftest import Phone
from tests.factories import insert_agent, insert_number, make_tenant
from voxline.config import Settings
from voxline.domain.calls import CallStatus
from voxline.engine.claims import claim_due_calls
from voxline.engine.dispatcher import Dispatcher
from voxline.engine.wakeup import Wakeups
from voxline.errors import ProviderError
from voxline.services import orgs
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.telephony.base import PlacementRequest, PlacementState, ProviderCall
from voxline.telephony.registry import ProviderRegistry


async def live_count(db: Database, org_id: str) -> int:
    async with db.read() as conn:
        return int(
            (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(calls)
                    .where(
                        calls.c.organization_id == org_id,
                        calls.c.status.in_(["ringing", "in_progress"]),
                    )
                )
            ).scalar_one()
        )


async def test_excess_calls_wait_for_a_free_slot(phone: Phone, db: Database) -> None:
    await orgs.set_concurrency_limit(db, phone.tenant.org_id, 2)
    ids = [(await phone.call("+14155550100")).json()["data"]["id"] for _ in range(6)]
    peak = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        peak = max(peak, await live_count(db, phone.tenant.org_id))
        states = [(await phone.get(i))["summary"] for i in ids]
        if all(s is not None for s in states):
            break
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    assert peak == 2
    finished = [await phone.get(i) for i in ids]
    assert {c["status"] for c in finished} == {"completed"}
    started = [str(c["started_at"]) for c in finished]
    # First in, first out within the organization.
    assert started[:2] < started[2:4] or max(started[:2]) <= min(started[4:])


async def test_claims_are_fair_across_organizations(db: Database, settings: Settings) -> None:
    tenants = []
    for name in ("Big", "Small"):
        tenant = await make_tenant(db, name)
        agent = await insert_agent(db, tenant.org_id)
        number = f"+1415555{1000 + len(tenants)}"
        await insert_number(db, tenant.org_id, number, outbound_agent_id=agent)
        tenants.append((tenant, agent, number))
    import uuid

    from voxline.storage.types import utcnow

    async with db.write() as conn:
        for index, (tenant, agent, number) in enumerate(tenants):
            for _ in range(40 if index == 0 else 3):
                now = utcnow()
                await conn.execute(
                    calls.insert().values(
                        id=str(uuid.uuid4()),
                        organization_id=tenant.org_id,
                        agent_id=agent,
                        direction="outbound",
                        status="queued",
                        phone_number="+14155550100",
                        from_number=number,
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
    claimed = await claim_due_calls(
        db, worker_id="w", lease_seconds=30, default_limit=100, batch=10
    )
    by_org: dict[str, int] = {}
    for call in claimed:
        by_org[call.org_id] = by_org.get(call.org_id, 0) + 1
    assert by_org[tenants[1][0].org_id] == 3
    assert by_org[tenants[0][0].org_id] == 5


@dataclass
class FlakyProvider:
    """Fails with the given errors, in order, then places the call."""

    errors: list[ProviderError]
    name: str = "sandbox"
    attempts: list[str] = field(default_factory=list)

    async def place_call(self, request: PlacementRequest) -> str:
        self.attempts.append(request.call_id)
        if self.errors:
            raise self.errors.pop(0)
        return "PROV-1"

    async def hangup(self, call: ProviderCall) -> None:
        return None

    async def placement_state(self, call: ProviderCall) -> PlacementState:
        return PlacementState.UNKNOWN

    async def recording_url(self, call: ProviderCall) -> str | None:
        return None

    async def send_digits(self, call: ProviderCall, digits: str) -> bool:
        return False

    async def transfer(self, call: ProviderCall, destination: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def _queued_call(db: Database) -> str:
    tenant = await make_tenant(db, "Retry")
    agent = await insert_agent(db, tenant.org_id)
    import uuid

    from voxline.storage.types import utcnow

    call_id = str(uuid.uuid4())
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            calls.insert().values(
                id=call_id,
                organization_id=tenant.org_id,
                agent_id=agent,
                direction="outbound",
                status="queued",
                phone_number="+14155550100",
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


async def _call_row(db: Database, call_id: str) -> sa.Row[object]:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).first()
    assert row is not None
    return row


@pytest.mark.parametrize("retryable", [True, False])
async def test_provider_errors_are_retried_only_when_retryable(
    db: Database, settings: Settings, retryable: bool
) -> None:
    settings = settings.model_copy(update={"placement_backoff_seconds": 0.0})
    call_id = await _queued_call(db)
    error = ProviderError("upstream 503", provider="sandbox", retryable=retryable, http_status=503)
    provider = FlakyProvider([error, error])
    dispatcher = Dispatcher(db, settings, ProviderRegistry({"sandbox": provider}), Wakeups(), "w1")
    for _ in range(3):
        for claimed in await dispatcher._claim():
            await dispatcher.place(claimed)
    row = await _call_row(db, call_id)
    if retryable:
        assert provider.attempts == [call_id] * 3
        assert row.placement_state == "placed"
        assert row.provider_call_id == "PROV-1"
    else:
        assert provider.attempts == [call_id]
        assert row.status == CallStatus.FAILED
        assert row.context["last_error"] == "upstream 503"
        assert row.end_reason == "provider_error"


async def test_retryable_errors_give_up_after_the_last_attempt(
    db: Database, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={"placement_backoff_seconds": 0.0, "placement_max_attempts": 2}
    )
    call_id = await _queued_call(db)
    errors = [ProviderError("timeout", provider="sandbox", retryable=True) for _ in range(5)]
    provider = FlakyProvider(errors)
    dispatcher = Dispatcher(db, settings, ProviderRegistry({"sandbox": provider}), Wakeups(), "w1")
    for _ in range(4):
        for claimed in await dispatcher._claim():
            await dispatcher.place(claimed)
    row = await _call_row(db, call_id)
    assert len(provider.attempts) == 2
    assert row.status == CallStatus.FAILED
