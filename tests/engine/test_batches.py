"""Batch calls run by the engine in text sandbox mode: every contact called once, retries by
outcome (sandbox personas), the do-not-call list, pause and resume mid-run, counters equal
to the rows, and the calling window on a pinned clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.engine.conftest import Phone
from tests.factories import insert_agent, insert_number, make_tenant
from voxline.config import Settings
from voxline.engine.batches import Scheduler
from voxline.engine.wakeup import Wakeups
from voxline.services import batch_lifecycle, batch_runs, batches, dnc, orgs
from voxline.storage.db import Database
from voxline.storage.tables import batch_contacts, calls, events


def talkers(count: int) -> list[dict[str, str]]:
    """Distinct numbers the sandbox answers with a talker (area codes 201 onwards)."""
    return [{"phone_number": f"+1{201 + i}5550100"} for i in range(count)]


async def start(phone: Phone, contacts: list[dict[str, str]], **body: Any) -> str:
    created = await phone.client.post(
        f"{API}/batch-calls",
        json={
            "name": "Run",
            "agent_id": phone.agent_id,
            "contacts": contacts,
            "working_days": [1, 2, 3, 4, 5, 6, 7],  # whatever day the test runs
            **body,
        },
        headers=phone.tenant.headers,
    )
    assert created.status_code == 201, created.text
    batch_id: str = created.json()["data"]["id"]
    scheduled = await phone.client.post(
        f"{API}/batch-calls/{batch_id}/schedule", headers=phone.tenant.headers
    )
    assert scheduled.status_code == 200, scheduled.text
    return batch_id


async def batch(phone: Phone, batch_id: str) -> dict[str, Any]:
    got = await phone.client.get(f"{API}/batch-calls/{batch_id}", headers=phone.tenant.headers)
    assert got.status_code == 200, got.text
    data: dict[str, Any] = got.json()["data"]
    return data


async def wait_for(phone: Phone, batch_id: str, status: str, within: float = 60) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = await batch(phone, batch_id)
        if found["status"] == status:
            return found
        assert loop.time() < deadline, f"batch did not reach {status}: {found}"
        await asyncio.sleep(0.1)


async def calls_per_contact(db: Database, batch_id: str) -> dict[str, list[str]]:
    """Each batch contact's phone number and the statuses of its calls, oldest first."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(batch_contacts.c.phone_number, calls.c.status)
                .select_from(
                    batch_contacts.outerjoin(calls, calls.c.batch_contact_id == batch_contacts.c.id)
                )
                .where(batch_contacts.c.batch_id == batch_id)
                .order_by(calls.c.created_at)
            )
        ).all()
    found: dict[str, list[str]] = {}
    for phone_number, status in rows:
        found.setdefault(phone_number, [])
        if status is not None:
            found[phone_number].append(status)
    return found


async def counted_rows(db: Database, batch_id: str) -> dict[str, int]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(batch_contacts.c.status, sa.func.count())
                .where(batch_contacts.c.batch_id == batch_id)
                .group_by(batch_contacts.c.status)
            )
        ).all()
    return {status: int(n) for status, n in rows}


async def test_every_contact_is_called_once_and_the_batch_completes(
    phone: Phone, db: Database
) -> None:
    batch_id = await start(phone, talkers(6), max_concurrent_calls=3, calls_per_second=20)
    done = await wait_for(phone, batch_id, "completed")
    per_contact = await calls_per_contact(db, batch_id)
    assert len(per_contact) == 6
    assert all(statuses == ["completed"] for statuses in per_contact.values()), per_contact
    rows = await counted_rows(db, batch_id)
    assert rows == {"completed": 6}
    assert (done["total_contacts"], done["called"], done["completed"], done["pending"]) == (
        6,
        6,
        6,
        0,
    )
    async with db.read() as conn:
        kinds = (
            (await conn.execute(sa.select(events.c.type).where(events.c.type.like("batch.%"))))
            .scalars()
            .all()
        )
    assert sorted(kinds) == ["batch.completed"] + ["batch.status.changed"] * 3


# The retry and do-not-call rules do not depend on the backend: one keeps the file quick.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_retries_follow_the_outcome(phone: Phone, db: Database) -> None:
    contacts = [
        {"phone_number": "+14155550101"},  # busy
        {"phone_number": "+14155550102"},  # never answers
        {"phone_number": "+14155550103"},  # voicemail
        {"phone_number": "+14155550100"},  # talks
    ]
    policy = {"busy": {"max": 1, "delay": 0}, "no_answer": {"max": 2, "delay": 0}}
    batch_id = await start(phone, contacts, retry_policy=policy, calls_per_second=20)
    done = await wait_for(phone, batch_id, "completed")
    per_contact = await calls_per_contact(db, batch_id)
    assert per_contact["+14155550101"] == ["busy", "busy"]
    assert per_contact["+14155550102"] == ["no_answer"] * 3
    assert per_contact["+14155550103"] == ["voicemail"]  # no rule for voicemail
    assert per_contact["+14155550100"] == ["completed"]
    assert await counted_rows(db, batch_id) == {
        "busy": 1,
        "no_answer": 1,
        "voicemail": 1,
        "completed": 1,
    }
    assert (done["completed"], done["failed"], done["called"]) == (1, 3, 4)
    analytics = await phone.client.get(
        f"{API}/batch-calls/{batch_id}/analytics", headers=phone.tenant.headers
    )
    data = analytics.json()["data"]
    assert data["calls"] == 7 and data["connected"] >= 1 and data["pending"] == 0


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_listed_contact_is_skipped_and_never_called(phone: Phone, db: Database) -> None:
    await dnc.add(db, phone.tenant.org_id, "+12025550100", "asked by letter")
    batch_id = await start(
        phone,
        [{"phone_number": "+12025550100"}, {"phone_number": "+12035550100"}],
        retry_failed=True,
        max_retry_attempts=3,
    )
    await wait_for(phone, batch_id, "completed")
    per_contact = await calls_per_contact(db, batch_id)
    assert per_contact == {"+12025550100": [], "+12035550100": ["completed"]}
    listed = await phone.client.get(
        f"{API}/batch-calls/{batch_id}/contacts",
        params={"status": "skipped"},
        headers=phone.tenant.headers,
    )
    [skipped] = listed.json()["data"]
    assert (skipped["phone_number"], skipped["last_outcome"]) == ("+12025550100", "do_not_call")


async def test_pause_and_resume_mid_run_lose_no_contact_and_call_none_twice(
    phone: Phone, db: Database
) -> None:
    batch_id = await start(phone, talkers(10), max_concurrent_calls=2, calls_per_second=20)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (await batch(phone, batch_id))["called"] < 2:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    paused = await phone.client.post(
        f"{API}/batch-calls/{batch_id}/pause", headers=phone.tenant.headers
    )
    assert paused.json()["data"]["status"] == "paused"
    # Calls under way finish; no new one starts while paused.
    while (await counted_rows(db, batch_id)).get("calling"):
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    held = await batch(phone, batch_id)
    await asyncio.sleep(0.5)  # several scheduler polls
    assert (await batch(phone, batch_id))["called"] == held["called"] < 10
    assert held["status"] == "paused" and held["pending"] == 10 - held["called"]
    resumed = await phone.client.post(
        f"{API}/batch-calls/{batch_id}/resume", headers=phone.tenant.headers
    )
    assert resumed.status_code == 201
    await wait_for(phone, batch_id, "completed")
    per_contact = await calls_per_contact(db, batch_id)
    assert len(per_contact) == 10
    assert all(statuses == ["completed"] for statuses in per_contact.values()), per_contact


async def test_the_window_is_read_on_each_contacts_clock(db: Database, settings: Settings) -> None:
    tenant = await make_tenant(db)
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
    config = batches.BatchConfig(
        name="Windows",
        agent_id=agent,
        timezone="America/New_York",
        start_time="09:00",
        end_time="17:00",
    )
    new = batches.NewBatch(
        config,
        contacts=[
            {"phone_number": "+14155550100"},  # the batch's zone
            {"phone_number": "+81355550100", "timezone": "Asia/Tokyo"},
        ],
    )
    outcome = await batches.create_batch(db, settings, tenant.org_id, new, idempotency_key=None)
    batch_id = outcome.body["id"]
    await batch_lifecycle.schedule(
        db, tenant.org_id, batch_id, datetime(2026, 3, 1, tzinfo=UTC), None
    )
    # Monday 2027-03-15 14:00 UTC (after the contacts were added): 10:00 in New York (EDT
    # since the 14th), 23:00 in Tokyo.
    monday = datetime(2027, 3, 15, 14, 0, tzinfo=UTC)
    scheduler = Scheduler(db, settings, Wakeups(), clock=lambda: monday)
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0
    async with db.read() as conn:
        rows = {
            r.phone_number: r
            for r in (
                await conn.execute(
                    sa.select(batch_contacts).where(batch_contacts.c.batch_id == batch_id)
                )
            ).all()
        }
    assert rows["+14155550100"].status == "calling"
    tokyo = rows["+81355550100"]
    assert tokyo.status == "pending" and tokyo.attempts == 0
    # Tuesday 09:00 in Tokyo is Tuesday 00:00 UTC.
    assert tokyo.next_attempt_at == datetime(2027, 3, 16, 0, 0, tzinfo=UTC)
    # A week-end in New York: nothing is due.
    saturday = datetime(2027, 3, 20, 15, 0, tzinfo=UTC)
    scheduler.clock = lambda: saturday
    assert await scheduler.run_once() == 0


async def test_max_calls_per_day_counts_the_batchs_local_day(
    db: Database, settings: Settings
) -> None:
    tenant = await make_tenant(db)
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
    config = batches.BatchConfig(
        name="Daily",
        agent_id=agent,
        timezone="Asia/Tokyo",
        working_days=[1, 2, 3, 4, 5, 6, 7],
        max_calls_per_day=2,
    )
    new = batches.NewBatch(config, contacts=talkers(5))
    outcome = await batches.create_batch(db, settings, tenant.org_id, new, idempotency_key=None)
    batch_id = outcome.body["id"]
    await batch_lifecycle.schedule(db, tenant.org_id, batch_id, None, None)
    # 2027-03-15 14:00 UTC is 23:00 on the 15th in Tokyo; 15:00 UTC is already the 16th.
    clock = [datetime(2027, 3, 15, 14, 0, tzinfo=UTC)]
    scheduler = Scheduler(db, settings, Wakeups(), clock=lambda: clock[0])
    assert await scheduler.run_once() == 2
    assert await scheduler.run_once() == 0  # the day's two calls are used
    clock[0] = datetime(2027, 3, 15, 15, 0, tzinfo=UTC)
    assert await scheduler.run_once() == 2
    assert (await counted_rows(db, batch_id)) == {"calling": 4, "pending": 1}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_round_robin_caller_ids_stick_to_each_contact_across_retries(
    db: Database, settings: Settings
) -> None:
    tenant = await make_tenant(db)
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent)
    await insert_number(db, tenant.org_id, "+14155551001", outbound_agent_id=agent)
    config = batches.BatchConfig(
        name="Rotation",
        agent_id=agent,
        working_days=[1, 2, 3, 4, 5, 6, 7],
        phone_rotation_strategy="round_robin",
        retry_policy={"busy": {"max": 1, "delay": 0}},
    )
    new = batches.NewBatch(config, contacts=talkers(3))
    outcome = await batches.create_batch(db, settings, tenant.org_id, new, idempotency_key=None)
    batch_id = outcome.body["id"]
    await batch_lifecycle.schedule(db, tenant.org_id, batch_id, None, None)
    now = [datetime(2027, 3, 15, 14, 0, tzinfo=UTC)]
    scheduler = Scheduler(db, settings, Wakeups(), clock=lambda: now[0])
    assert await scheduler.run_once() == 3
    async with db.read() as conn:
        first = (
            await conn.execute(
                sa.select(calls.c.id, calls.c.batch_contact_id, calls.c.from_number).order_by(
                    calls.c.from_number
                )
            )
        ).all()
    assert sorted(c.from_number for c in first) == [
        "+14155551000",
        "+14155551000",
        "+14155551001",
    ]
    # A fresh round-robin choice for the fourth contact dialed would be the second number.
    retried = next(c for c in first if c.from_number == "+14155551000")
    async with db.write() as conn:
        changed = await batch_runs.call_ended(
            conn,
            call_id=retried.id,
            batch_contact_id=retried.batch_contact_id,
            status="busy",
            ended_at=now[0],
            opted_out=False,
            now=now[0],
        )
    assert changed
    now[0] = datetime(2027, 3, 15, 14, 1, tzinfo=UTC)
    assert await scheduler.run_once() == 1
    async with db.read() as conn:
        again = (
            await conn.execute(
                sa.select(calls.c.from_number).where(
                    calls.c.batch_contact_id == retried.batch_contact_id,
                    calls.c.id != retried.id,
                )
            )
        ).scalar_one()
    assert again == "+14155551000"


async def test_a_running_batch_starves_neither_its_organizations_api_calls_nor_another_org(
    phone: Phone, db: Database
) -> None:
    """A batch much larger than the organization's concurrency limit keeps one slot for its
    organization's own calls and shares the dispatcher with other organizations: an API
    call of either, made while the batch runs, ends while batch contacts are still waiting
    (starved, it would only be placed once the whole batch was done)."""
    await orgs.set_concurrency_limit(db, phone.tenant.org_id, 2)
    other = await make_tenant(db, "Other")
    other_agent = await insert_agent(db, other.org_id)
    await insert_number(db, other.org_id, "+14155552000", outbound_agent_id=other_agent)
    batch_id = await start(phone, talkers(12), max_concurrent_calls=10, calls_per_second=50)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while (await batch(phone, batch_id))["called"] < 2:
        assert loop.time() < deadline, "the batch placed no call"
        await asyncio.sleep(0.05)
    own = await phone.call("+14155550100")
    theirs = await phone.client.post(
        f"{API}/calls",
        json={"agent_id": other_agent, "phone_number": "+14155550100"},
        headers=other.headers,
    )
    assert own.status_code == 201 and theirs.status_code == 201, (own.text, theirs.text)
    own_call = await phone.wait_finished(own.json()["data"]["id"], within=60)
    assert own_call["status"] == "completed"
    assert (await batch(phone, batch_id))["pending"] > 0, "the API call waited for the batch"
    other_id = theirs.json()["data"]["id"]
    while True:
        got = await phone.client.get(f"{API}/calls/{other_id}", headers=other.headers)
        if got.json()["data"]["summary"] is not None:
            break
        assert loop.time() < deadline, "the other organization's call never ended"
        await asyncio.sleep(0.05)
    assert got.json()["data"]["status"] == "completed"
    assert (await batch(phone, batch_id))["pending"] > 0, "another org waited for the batch"
    await wait_for(phone, batch_id, "completed")
