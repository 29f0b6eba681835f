"""Billing is bounded by facts Voxline controls, whatever a provider or a crash reports.

Validly signed provider events (Twilio status callbacks, Telnyx webhooks, played here as the
providers play them against the emulators) carry times Voxline cannot check; a call is billed
from times clamped to [the call's creation, now] and for at most its ``max_duration`` plus
the configured grace. A call whose worker died is billed up to its last lease renewal, not
up to when recovery noticed. Time is driven by the events' timestamps and by moving a call's
creation into the past, never by waiting; every bound is asserted with a stated margin.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.emulators.telnyx import API_KEY, CONNECTION_ID, TelnyxEmulator
from tests.emulators.twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    SignedCallback,
    TwilioEmulator,
    twilio_signature,
)
from tests.factories import Tenant, app_for, insert_agent
from voxline.config import Settings
from voxline.domain.pricing import PriceTable
from voxline.engine.claims import renew_leases
from voxline.engine.runner import Engine
from voxline.services import billing
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow

NUMBER = "+14155552671"
CALLEE = "+14155550123"
BASE_URL = "http://voxline.test"
# How long the test itself may take between two of its steps on a loaded machine: bounds
# below allow this much real time on top of what the events' timestamps imply.
SLACK_SECONDS = 60


@dataclass
class Deployment:
    http: httpx.AsyncClient
    tenant: Tenant
    agent_id: str
    settings: Settings
    db: Database

    async def call(self, call_id: str) -> dict[str, Any]:
        got = await self.http.get(f"{API}/calls/{call_id}")
        assert got.status_code == 200, got.text
        data: dict[str, Any] = got.json()["data"]
        return data

    async def finalized(self, call_id: str) -> dict[str, Any]:
        for _ in range(600):
            call = await self.call(call_id)
            if call["summary"] is not None:
                return call
            await asyncio.sleep(0.05)
        raise AssertionError(f"call never finalized: {call}")

    async def backdate(self, call_id: str, seconds: float) -> datetime:
        """Move the call's creation ``seconds`` into the past; returns the new creation."""
        created = utcnow() - timedelta(seconds=seconds)
        async with self.db.write() as conn:
            await conn.execute(
                calls.update().where(calls.c.id == call_id).values(created_at=created)
            )
        return created

    async def row(self, call_id: str) -> Any:
        async with self.db.read() as conn:
            return (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()

    async def balance(self) -> Decimal:
        async with self.db.read() as conn:
            return await billing.balance(conn, self.tenant.org_id)

    def price(self, seconds: int, provider: str) -> Decimal:
        prices = PriceTable(
            self.settings.price_platform_per_minute, self.settings.price_telephony_per_minute
        )
        return prices.cost(seconds, provider)


async def _deploy(
    db: Database, settings: Settings, tenant: Tenant, **update: object
) -> AsyncIterator[tuple[Deployment, Engine]]:
    live = settings.model_copy(
        update={
            "public_base_url": BASE_URL,
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
            **update,
        }
    )
    engine = Engine(db, live)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    app = app_for(live, db=db, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    agent_id = await insert_agent(db, tenant.org_id, system_prompt="- Hello.")
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=tenant.headers, timeout=30
        ) as http:
            yield Deployment(http, tenant, agent_id, live, db), engine
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _number(deployment: Deployment, **fields: str) -> None:
    imported = await deployment.http.post(
        f"{API}/telephony/numbers/import", json={"phone_number": NUMBER, **fields}
    )
    assert imported.status_code == 201, imported.text
    number_id = imported.json()["data"]["id"]
    assigned = await deployment.http.post(
        f"{API}/telephony/numbers/assign",
        json={
            "number_id": number_id,
            "agent_id": deployment.agent_id,
            "assignment_type": "outbound",
        },
    )
    assert assigned.status_code == 200, assigned.text


async def _place(deployment: Deployment, **body: object) -> str:
    created = await deployment.http.post(
        f"{API}/calls",
        json={"agent_id": deployment.agent_id, "phone_number": CALLEE, **body},
    )
    assert created.status_code == 201, created.text
    call_id: str = created.json()["data"]["id"]
    return call_id


async def _dialed(emulated: dict[str, Any], before: int) -> None:
    """Wait until the emulator was asked to dial (the engine may place the call itself)."""
    for _ in range(600):
        if len(emulated) > before:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the provider was never asked to dial")


# -- Twilio ---------------------------------------------------------------------------------


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioEmulator]:
    emulator = TwilioEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@dataclass
class TwilioLine:
    deployment: Deployment
    emulator: TwilioEmulator

    async def place(self, **body: object) -> tuple[str, dict[str, SignedCallback]]:
        """POST /calls; the call id and its signed callbacks by ``CallStatus``."""
        dialed = len(self.emulator.calls)
        call_id = await _place(self.deployment, **body)
        await _dialed(self.emulator.calls, dialed)
        call = list(self.emulator.calls.values())[-1]
        hooks = self.emulator.callbacks(call.sid, "completed")
        return call_id, {dict(parse_qsl(h.body))["CallStatus"]: h for h in hooks}

    async def post(self, callback: SignedCallback, at: datetime | None = None) -> None:
        """Post ``callback`` validly signed, with its ``Timestamp`` set to ``at``."""
        if at is not None:
            pairs = [
                (k, format_datetime(at) if k == "Timestamp" else v)
                for k, v in parse_qsl(callback.body, keep_blank_values=True)
            ]
            callback = SignedCallback(
                callback.url,
                {
                    **callback.headers,
                    "X-Twilio-Signature": twilio_signature(AUTH_TOKEN, callback.url, pairs),
                },
                urlencode(pairs),
            )
        response = await self.deployment.http.post(
            callback.url, content=callback.body, headers=callback.headers
        )
        assert response.status_code == 204, response.text


@pytest.fixture
async def twilio_line(
    db: Database, settings: Settings, tenant: Tenant, twilio: TwilioEmulator
) -> AsyncIterator[TwilioLine]:
    async for deployment, _ in _deploy(db, settings, tenant, twilio_api_base_url=twilio.base_url):
        await _number(
            deployment, provider_type="twilio", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN
        )
        yield TwilioLine(deployment, twilio)


async def test_an_old_twilio_answer_time_bills_only_the_time_since_the_call_was_created(
    twilio_line: TwilioLine,
) -> None:
    deployment = twilio_line.deployment
    call_id, hooks = await twilio_line.place()
    before = await deployment.balance()
    await twilio_line.post(hooks["ringing"])
    years_ago = datetime.now(UTC) - timedelta(days=3 * 365)
    await twilio_line.post(hooks["in-progress"], at=years_ago)
    await twilio_line.post(hooks["completed"])
    call = await deployment.finalized(call_id)
    assert call["status"] == "completed"
    # Created, answered and ended within this test: not 92 million seconds.
    assert call["duration_seconds"] <= SLACK_SECONDS
    spent = before - await deployment.balance()
    assert 0 <= spent <= deployment.price(SLACK_SECONDS + 1, "twilio")


async def test_honest_twilio_times_within_the_call_are_billed_as_reported(
    twilio_line: TwilioLine,
) -> None:
    deployment = twilio_line.deployment
    call_id, hooks = await twilio_line.place()
    # Not further back than the join timeout (30 s): the ringing event's deadline must lie
    # ahead, or the join-timeout timer could end the call before the answer arrives.
    created = await deployment.backdate(call_id, 15)
    before = await deployment.balance()
    await twilio_line.post(hooks["ringing"], at=created + timedelta(seconds=1))
    await twilio_line.post(hooks["in-progress"], at=created + timedelta(seconds=5))
    await twilio_line.post(hooks["completed"], at=created + timedelta(seconds=12))
    call = await deployment.finalized(call_id)
    assert call["duration_seconds"] == 7
    assert before - await deployment.balance() == deployment.price(7, "twilio")


async def test_a_future_twilio_end_time_bills_only_up_to_when_the_end_arrived(
    twilio_line: TwilioLine,
) -> None:
    deployment = twilio_line.deployment
    call_id, hooks = await twilio_line.place()
    created = await deployment.backdate(call_id, 30)
    await twilio_line.post(hooks["in-progress"], at=created + timedelta(seconds=5))
    await twilio_line.post(hooks["completed"], at=datetime.now(UTC) + timedelta(days=365))
    call = await deployment.finalized(call_id)
    # Answered 5 s after a creation 30 s ago, ended now (not in a year).
    assert 25 <= call["duration_seconds"] <= 25 + SLACK_SECONDS


async def test_a_future_twilio_answer_time_cannot_push_the_call_past_its_max_duration(
    twilio_line: TwilioLine,
) -> None:
    deployment = twilio_line.deployment
    call_id, hooks = await twilio_line.place(call_settings={"max_duration": "60s"})
    await twilio_line.post(hooks["in-progress"], at=datetime.now(UTC) + timedelta(days=30))
    answered = await deployment.row(call_id)
    now = utcnow()
    assert answered.status == "in_progress"
    # Answered when the report arrived, so the max_duration timer runs from now.
    assert answered.started_at <= now
    assert answered.deadline_at <= now + timedelta(seconds=60)


async def test_a_twilio_call_is_billed_at_most_its_max_duration_and_the_grace(
    twilio_line: TwilioLine,
) -> None:
    deployment = twilio_line.deployment
    call_id, hooks = await twilio_line.place(call_settings={"max_duration": "10s"})
    created = await deployment.backdate(call_id, 600)
    await twilio_line.post(hooks["in-progress"], at=created + timedelta(seconds=1))
    await twilio_line.post(hooks["completed"], at=created + timedelta(seconds=500))
    call = await deployment.finalized(call_id)
    grace = deployment.settings.answered_grace_seconds
    assert call["duration_seconds"] <= 10 + grace
    # The negative neighbour: a call within its limit keeps its full time (see the honest
    # test above); this one is cut, not zeroed.
    assert call["duration_seconds"] >= 10


# -- Telnyx ---------------------------------------------------------------------------------


@pytest.fixture
async def telnyx() -> AsyncIterator[TelnyxEmulator]:
    emulator = TelnyxEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@dataclass
class TelnyxLine:
    deployment: Deployment
    emulator: TelnyxEmulator

    async def place(self, **body: object) -> tuple[str, Any]:
        dialed = len(self.emulator.calls)
        call_id = await _place(self.deployment, **body)
        await _dialed(self.emulator.calls, dialed)
        return call_id, list(self.emulator.calls.values())[-1]

    async def post(self, call: Any, event_type: str, at: datetime, **payload: Any) -> None:
        """A genuine, signed Telnyx webhook reporting ``at`` as its ``occurred_at``."""
        hook = self.emulator._webhook(call, event_type, at, int(time.time()), **payload)
        response = await self.deployment.http.post(
            hook.url, content=hook.body, headers=hook.headers
        )
        assert response.status_code == 204, response.text


@pytest.fixture
async def telnyx_line(
    db: Database, settings: Settings, tenant: Tenant, telnyx: TelnyxEmulator
) -> AsyncIterator[TelnyxLine]:
    async for deployment, _ in _deploy(db, settings, tenant, telnyx_api_base_url=telnyx.base_url):
        await _number(
            deployment,
            provider_type="telnyx",
            api_key=API_KEY,
            public_key=telnyx.public_key,
            connection_id=CONNECTION_ID,
        )
        yield TelnyxLine(deployment, telnyx)


HANGUP = {"state": "hangup", "hangup_cause": "normal_clearing", "hangup_source": "callee"}


async def test_an_old_telnyx_occurred_at_bills_only_the_time_since_creation(
    telnyx_line: TelnyxLine,
) -> None:
    deployment = telnyx_line.deployment
    call_id, call = await telnyx_line.place()
    before = await deployment.balance()
    now = datetime.now(UTC)
    await telnyx_line.post(call, "call.initiated", now, direction="outgoing", state="bridging")
    await telnyx_line.post(call, "call.answered", now - timedelta(days=400), state="answered")
    await telnyx_line.post(call, "call.hangup", datetime.now(UTC), **HANGUP)
    finished = await deployment.finalized(call_id)
    assert finished["status"] == "completed"
    assert finished["duration_seconds"] <= SLACK_SECONDS
    assert before - await deployment.balance() <= deployment.price(SLACK_SECONDS + 1, "telnyx")


async def test_a_future_telnyx_hangup_bills_up_to_its_arrival_and_honest_times_exactly(
    telnyx_line: TelnyxLine,
) -> None:
    deployment = telnyx_line.deployment
    honest_id, honest = await telnyx_line.place()
    created = await deployment.backdate(honest_id, 30)
    await telnyx_line.post(
        honest, "call.answered", created + timedelta(seconds=3), state="answered"
    )
    await telnyx_line.post(honest, "call.hangup", created + timedelta(seconds=11), **HANGUP)
    assert (await deployment.finalized(honest_id))["duration_seconds"] == 8

    future_id, future = await telnyx_line.place()
    created = await deployment.backdate(future_id, 30)
    await telnyx_line.post(
        future, "call.answered", created + timedelta(seconds=3), state="answered"
    )
    await telnyx_line.post(future, "call.hangup", datetime.now(UTC) + timedelta(days=9), **HANGUP)
    assert 27 <= (await deployment.finalized(future_id))["duration_seconds"] <= 27 + SLACK_SECONDS


# -- A worker that died mid-call ----------------------------------------------------------


def _recovery(db: Database, settings: Settings) -> Engine:
    """A fresh engine (not running): its timers and finalizer are driven by the test."""
    return Engine(db, settings.model_copy(update={"engine_lease_seconds": 30.0}))


async def _orphan(
    db: Database,
    tenant: Tenant,
    *,
    provider: str = "sandbox",
    started_ago: float,
    renewed_ago: float,
    max_duration: float = 3600,
    lease_seconds: float = 30.0,
) -> str:
    """An in-progress call left by a dead worker: answered ``started_ago`` seconds ago, its
    lease last renewed ``renewed_ago`` seconds ago (so it expires ``lease_seconds`` later)."""
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
                status="in_progress",
                phone_number=CALLEE,
                from_number=NUMBER,
                provider_type=provider,
                provider_call_id=f"{provider}-{call_id}",
                variables={},
                settings={"max_duration_seconds": max_duration, "join_timeout_seconds": 30},
                context={},
                answered_by="human",
                started_at=now - timedelta(seconds=started_ago),
                deadline_at=now + timedelta(days=1),
                lease_owner="dead-worker",
                lease_expires_at=now - timedelta(seconds=renewed_ago - lease_seconds),
                placement_state="placed",
                attempts=1,
                created_at=now - timedelta(seconds=started_ago + 2),
                updated_at=now,
            )
        )
    return call_id


async def _recover_and_finalize(engine: Engine, call_id: str) -> Any:
    await engine.timers.recover_expired_leases()
    assert await engine.finalizer.finalize(call_id) == 1
    async with engine.db.read() as conn:
        return (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()


async def test_a_call_whose_worker_died_is_billed_up_to_its_last_lease_renewal(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    # Answered 47.4 s ago, last seen alive 5.5 s after that; recovery runs now.
    call_id = await _orphan(db, tenant, started_ago=47.4, renewed_ago=41.9)
    row = await _recover_and_finalize(_recovery(db, settings), call_id)
    assert row.status == "completed"
    assert row.end_reason == "provider_error"
    assert row.duration_seconds in (5, 6)  # 5.5 s, rounded either way; not 47
    prices = PriceTable(settings.price_platform_per_minute, settings.price_telephony_per_minute)
    assert row.cost_micros == int(prices.cost(6, "sandbox") * 1_000_000)


async def test_a_call_whose_worker_is_alive_is_left_alone(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    call_id = await _orphan(db, tenant, started_ago=47.4, renewed_ago=1)
    engine = _recovery(db, settings)
    assert await engine.timers.recover_expired_leases() == 0
    async with db.read() as conn:
        status = (
            await conn.execute(sa.select(calls.c.status).where(calls.c.id == call_id))
        ).scalar_one()
    assert status == "in_progress"


async def test_a_dead_workers_call_is_billed_at_most_its_max_duration_and_the_grace(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    call_id = await _orphan(db, tenant, started_ago=900, renewed_ago=40, max_duration=60)
    row = await _recover_and_finalize(_recovery(db, settings), call_id)
    assert 60 <= row.duration_seconds <= 60 + settings.answered_grace_seconds


async def test_a_twilio_call_whose_media_host_died_is_ended_at_its_last_renewal(
    twilio_line: TwilioLine,
) -> None:
    deployment = twilio_line.deployment
    call_id, hooks = await twilio_line.place()
    (sid,) = [s for s, c in twilio_line.emulator.calls.items() if c.first("To") == CALLEE][-1:]
    created = await deployment.backdate(call_id, 120)
    await twilio_line.post(hooks["in-progress"], at=created + timedelta(seconds=1))
    # A media node hosted the call, renewed its lease and died 100 s ago, 19 s after the
    # answer; the engine running here recovers it.
    await renew_leases(deployment.db, "media-node", [call_id], 30)
    renewed = created + timedelta(seconds=20)
    async with deployment.db.write() as conn:
        await conn.execute(
            calls.update()
            .where(calls.c.id == call_id)
            .values(lease_expires_at=renewed + timedelta(seconds=30))
        )
    call = await deployment.finalized(call_id)
    assert call["status"] == "completed"
    assert call["end_reason"] == "provider_error"
    assert call["duration_seconds"] in (18, 19, 20)  # 19 s, not the 119 s since the answer
    hung_up = [r for r in twilio_line.emulator.requests if r[0] == "POST" and sid in r[1]]
    assert ("Status", "completed") in [pair for r in hung_up for pair in r[2]]


async def test_a_twilio_call_answered_but_not_yet_hosted_is_not_recovered(
    twilio_line: TwilioLine,
) -> None:
    deployment = twilio_line.deployment
    call_id, hooks = await twilio_line.place()
    created = await deployment.backdate(call_id, 120)
    await twilio_line.post(hooks["in-progress"], at=created + timedelta(seconds=1))
    engine = _recovery(deployment.db, deployment.settings)
    await engine.timers.recover_expired_leases()
    row = await deployment.row(call_id)
    assert row.status == "in_progress"
    assert row.lease_expires_at is None  # its media host will take the lease


# -- The credit floor -----------------------------------------------------------------------


async def _ended_call(db: Database, tenant: Tenant, *, seconds: float) -> str:
    """A completed Twilio call of ``seconds`` connected time, not yet finalized."""
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
                status="completed",
                end_reason="contact_hangup",
                phone_number=CALLEE,
                provider_type="twilio",
                variables={},
                settings={"max_duration_seconds": 3600},
                context={"crm_id": "42"},
                started_at=now - timedelta(seconds=seconds),
                ended_at=now,
                placement_state="placed",
                attempts=1,
                created_at=now - timedelta(seconds=seconds + 5),
                updated_at=now,
            )
        )
    return call_id


async def _call_row(db: Database, call_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()


async def _ledger(db: Database, tenant: Tenant) -> list[billing.LedgerEntry]:
    return [e for e in await billing.ledger(db, tenant.org_id) if e.kind == "call"]


async def test_a_debit_stops_at_the_credit_floor_and_records_what_it_left_uncollected(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    floored = settings.model_copy(update={"credit_floor_usd": Decimal("-1")})
    await billing.set_balance(db, tenant.org_id, Decimal("1"))
    call_id = await _ended_call(db, tenant, seconds=3600)  # $3.84 over Twilio
    engine = Engine(db, floored)
    assert await engine.finalizer.finalize(call_id) == 1
    assert await engine.finalizer.finalize(call_id) == 0  # debited exactly once
    async with db.read() as conn:
        assert await billing.balance(conn, tenant.org_id) == Decimal("-1")
    (entry,) = await _ledger(db, tenant)
    assert entry.amount == Decimal("-2")
    assert entry.note is not None and "1.840000 USD" in entry.note
    row = await _call_row(db, call_id)
    assert row.cost_micros == 3_840_000  # the call's price is unchanged
    assert row.context == {"crm_id": "42", "uncollected_usd": "1.840000"}


async def test_a_debit_above_the_credit_floor_is_taken_in_full_into_the_negative(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    await billing.set_balance(db, tenant.org_id, Decimal("1"))
    call_id = await _ended_call(db, tenant, seconds=3600)
    engine = Engine(db, settings)  # the default floor, -100 USD
    assert await engine.finalizer.finalize(call_id) == 1
    async with db.read() as conn:
        assert await billing.balance(conn, tenant.org_id) == Decimal("-2.84")
    (entry,) = await _ledger(db, tenant)
    assert entry.amount == Decimal("-3.84") and entry.note is None
    assert "uncollected_usd" not in (await _call_row(db, call_id)).context
