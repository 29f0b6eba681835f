"""``call_counts``: the totals of ``GET /calls`` stay exact whatever changes the calls.

The database's triggers keep one counter per (organization, agent, direction, status); these
tests change calls every way the platform can (inserts, status, agent and direction changes,
single and bulk deletes, a cascade, concurrent writers) and compare every filter
combination's total with a plain ``COUNT(*)``.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import POSTGRES_ADMIN_URL, _admin_execute
from tests.factories import Tenant, insert_agent, insert_call
from voxline.config import Settings
from voxline.domain.calls import CallDirection, CallStatus
from voxline.services import calls as call_service
from voxline.services.call_queries import CallFilters, list_calls
from voxline.storage import migrate
from voxline.storage.db import Database
from voxline.storage.tables import call_counts, calls, organizations
from voxline.storage.types import utcnow

STATUSES = [s.value for s in CallStatus]
TERMINAL = [s.value for s in CallStatus if s.is_terminal]
DIRECTIONS = [d.value for d in CallDirection]


# The counters' agent key of a call without an agent.
NO_AGENT = "00000000-0000-0000-0000-000000000000"


async def _groups_from_calls(db: Database) -> dict[tuple[str, str, str, str], int]:
    agent = sa.func.coalesce(calls.c.agent_id, NO_AGENT)
    key = (calls.c.organization_id, agent, calls.c.direction, calls.c.status)
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(*key, sa.func.count()).group_by(*key))).all()
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}


async def _groups_from_counters(db: Database) -> dict[tuple[str, str, str, str], int]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(call_counts))).all()
    return {(r.organization_id, r.agent_id, r.direction, r.status): int(r.n) for r in rows if r.n}


async def assert_counters_exact(db: Database) -> None:
    """Every group's counter equals the number of calls in it; no counter is negative."""
    async with db.read() as conn:
        negative = (
            await conn.execute(sa.select(sa.func.count()).where(call_counts.c.n < 0))
        ).scalar_one()
    assert negative == 0
    assert await _groups_from_counters(db) == await _groups_from_calls(db)


async def assert_totals_exact(
    db: Database, settings: Settings, org_id: str, agent_ids: list[str]
) -> None:
    """``list_calls`` reports the same total as ``COUNT(*)`` for every filter combination."""
    for status, direction, agent_id in itertools.product(
        [None, *STATUSES], [None, *DIRECTIONS], [None, *agent_ids]
    ):
        conditions = [calls.c.organization_id == org_id]
        if status is not None:
            conditions.append(calls.c.status == status)
        if direction is not None:
            conditions.append(calls.c.direction == direction)
        if agent_id is not None:
            conditions.append(calls.c.agent_id == agent_id)
        async with db.read() as conn:
            expected = (
                await conn.execute(sa.select(sa.func.count()).where(*conditions))
            ).scalar_one()
        filters = CallFilters(
            status=CallStatus(status) if status else None,
            direction=CallDirection(direction) if direction else None,
            agent_id=agent_id,
        )
        _, total = await list_calls(db, settings, org_id, filters, limit=1, offset=0)
        assert total == expected, (status, direction, agent_id)


@pytest.fixture
async def agents_of(db: Database, tenant: Tenant) -> list[str]:
    return [await insert_agent(db, tenant.org_id, name=f"Agent {i}") for i in range(3)]


async def _insert_mix(db: Database, org_id: str, agent_ids: list[str], count: int) -> list[str]:
    chooser = random.Random(count)
    return [
        await insert_call(
            db,
            org_id,
            chooser.choice(agent_ids),
            status=chooser.choice(STATUSES),
            direction=chooser.choice(DIRECTIONS),
        )
        for _ in range(count)
    ]


async def _set(db: Database, call_id: str, **values: object) -> None:
    async with db.write() as conn:
        await conn.execute(calls.update().where(calls.c.id == call_id).values(**values))


async def test_totals_are_exact_after_inserts_changes_and_deletes(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant, agents_of: list[str]
) -> None:
    foreign_agent = await insert_agent(db, other_tenant.org_id)
    await _insert_mix(db, other_tenant.org_id, [foreign_agent], 5)
    ids = await _insert_mix(db, tenant.org_id, agents_of, 40)
    await assert_totals_exact(db, settings, tenant.org_id, agents_of)

    for call_id, status in zip(ids[:10], itertools.cycle(STATUSES), strict=False):
        await _set(db, call_id, status=status)
    for call_id, agent_id in zip(ids[10:16], itertools.cycle(agents_of), strict=False):
        await _set(db, call_id, agent_id=agent_id)
    await _set(db, ids[16], direction="inbound", status="busy", agent_id=agents_of[0])
    await _set(db, ids[17], context={"note": "no counted column changes"})
    await assert_counters_exact(db)

    await _set(db, ids[20], status="completed")
    await call_service.delete_call(db, settings, tenant.org_id, ids[20])
    for call_id in ids[21:30]:
        await _set(db, call_id, status=random.choice(TERMINAL))
    await call_service.bulk_delete(db, settings, tenant.org_id, ids[21:30])
    async with db.write() as conn:
        await conn.execute(calls.delete().where(calls.c.id.in_(ids[30:33])))

    await assert_counters_exact(db)
    await assert_totals_exact(db, settings, tenant.org_id, agents_of)
    await assert_totals_exact(db, settings, other_tenant.org_id, [foreign_agent])


async def test_multi_row_statements_count_every_row(
    db: Database, settings: Settings, tenant: Tenant, agents_of: list[str]
) -> None:
    now = utcnow()
    rows = [
        {
            "id": str(uuid.uuid4()),
            "organization_id": tenant.org_id,
            "agent_id": agents_of[i % 3],
            "direction": DIRECTIONS[i % 2],
            "status": STATUSES[i % len(STATUSES)],
            "phone_number": "+14155550100",
            "variables": {},
            "settings": {},
            "context": {},
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(60)
    ]
    async with db.write() as conn:
        await conn.execute(calls.insert(), rows)
    await assert_counters_exact(db)

    async with db.write() as conn:
        await conn.execute(
            calls.update().where(calls.c.agent_id == agents_of[0]).values(status="completed")
        )
        await conn.execute(
            calls.update()
            .where(calls.c.direction == "inbound")
            .values(agent_id=agents_of[2], direction="outbound")
        )
    await assert_counters_exact(db)

    async with db.write() as conn:
        await conn.execute(calls.delete().where(calls.c.status == "completed"))
    await assert_counters_exact(db)
    await assert_totals_exact(db, settings, tenant.org_id, agents_of)


async def test_concurrent_writers_keep_totals_exact(
    db: Database, settings: Settings, tenant: Tenant, agents_of: list[str]
) -> None:
    ids = await _insert_mix(db, tenant.org_id, agents_of, 30)

    async def writer(seed: int) -> None:
        chooser = random.Random(seed)
        for step in range(6):
            action = (seed + step) % 3
            if action == 0:
                await insert_call(db, tenant.org_id, chooser.choice(agents_of), status="queued")
            elif action == 1:
                await _set(
                    db,
                    chooser.choice(ids),
                    status=chooser.choice(STATUSES),
                    agent_id=chooser.choice(agents_of),
                )
            else:
                # Overlapping bulk deletes in opposite orders: the counters must not deadlock.
                victims = chooser.sample(ids, 4)
                async with db.write() as conn:
                    await conn.execute(
                        calls.delete().where(calls.c.id.in_(sorted(victims, reverse=seed % 2 == 0)))
                    )

    await asyncio.gather(*(writer(seed) for seed in range(8)))

    await assert_counters_exact(db)
    await assert_totals_exact(db, settings, tenant.org_id, agents_of)


async def test_the_total_and_the_page_agree_while_calls_are_written(
    db: Database, settings: Settings, tenant: Tenant, agents_of: list[str]
) -> None:
    """Total and page are one snapshot: a page that holds every match lists exactly
    ``total`` calls, however the writes interleave with the reads."""
    ids = await _insert_mix(db, tenant.org_id, agents_of, 10)
    writing = True

    async def writer() -> None:
        nonlocal writing
        chooser = random.Random(7)
        try:
            for step in range(40):
                if step % 4 == 3:
                    async with db.write() as conn:
                        await conn.execute(calls.delete().where(calls.c.id == ids.pop(0)))
                else:
                    ids.append(await insert_call(db, tenant.org_id, chooser.choice(agents_of)))
                await asyncio.sleep(0)
        finally:
            writing = False

    async def reader() -> list[tuple[int, int]]:
        seen = []
        while writing:
            page, total = await list_calls(
                db, settings, tenant.org_id, CallFilters(), limit=500, offset=0
            )
            seen.append((len(page), total))
        return seen

    _, *readings = await asyncio.gather(writer(), reader(), reader())

    observed = [pair for seen in readings for pair in seen]
    assert len(observed) > 10
    assert all(listed == total for listed, total in observed), observed


async def test_concurrent_transitions_of_one_group_are_all_counted(
    db: Database, settings: Settings, tenant: Tenant, agents_of: list[str]
) -> None:
    ids = [await insert_call(db, tenant.org_id, agents_of[0], status="queued") for _ in range(20)]

    await asyncio.gather(*(_set(db, call_id, status="ringing") for call_id in ids))
    await asyncio.gather(*(_set(db, call_id, status="in_progress") for call_id in ids[:12]))

    status = CallFilters(status=CallStatus.RINGING, agent_id=agents_of[0])
    _, ringing = await list_calls(db, settings, tenant.org_id, status, limit=1, offset=0)
    _, queued = await list_calls(
        db, settings, tenant.org_id, CallFilters(status=CallStatus.QUEUED), limit=1, offset=0
    )
    assert (ringing, queued) == (8, 0)
    await assert_counters_exact(db)


async def test_deleting_an_organization_cascades_through_the_counters(
    db: Database, tenant: Tenant, other_tenant: Tenant, agents_of: list[str]
) -> None:
    other_agent = await insert_agent(db, other_tenant.org_id)
    await _insert_mix(db, tenant.org_id, agents_of, 10)
    await _insert_mix(db, other_tenant.org_id, [other_agent], 4)

    async with db.write() as conn:
        await conn.execute(organizations.delete().where(organizations.c.id == tenant.org_id))

    await assert_counters_exact(db)
    counters = await _groups_from_counters(db)
    assert not [key for key in counters if key[0] == tenant.org_id]
    assert sum(n for key, n in counters.items() if key[0] == other_tenant.org_id) == 4


async def test_time_window_totals_are_counted_and_offsets_past_the_end_are_empty(
    db: Database, settings: Settings, tenant: Tenant, agents_of: list[str]
) -> None:
    start = utcnow()
    for i in range(6):
        await insert_call(db, tenant.org_id, agents_of[0], created_at=start + timedelta(hours=i))

    window = CallFilters(created_after=start, created_before=start + timedelta(hours=4))
    items, in_window = await list_calls(db, settings, tenant.org_id, window, limit=10, offset=0)
    past_end, total = await list_calls(
        db, settings, tenant.org_id, CallFilters(), limit=10, offset=6
    )

    assert (len(items), in_window) == (3, 3)
    assert (past_end, total) == ([], 6)


# --- the migration ---------------------------------------------------------------------------


async def _seed_before_counters(url: str) -> None:
    """Two organizations' calls written while the schema is at revision 0001."""
    db = Database(url)
    try:
        now = utcnow()
        async with db.write() as conn:
            for org in ("org-a", "org-b"):
                await conn.execute(
                    organizations.insert().values(
                        id=org, name=org, credit_balance_micros=0, created_at=now, updated_at=now
                    )
                )
        for i in range(25):
            await insert_call(
                db,
                ("org-a", "org-b")[i % 2],
                f"agent-{i % 3}",
                direction=DIRECTIONS[i % 2],
                status=STATUSES[i % 5],
            )
    finally:
        await db.dispose()


WIDE_INDEX = "ix_calls_organization_id_status_created_at_direction_agent_id"
NARROW_INDEX = "ix_calls_organization_id_status_created_at"


async def _names(url: str) -> tuple[set[str], set[str]]:
    """Tables and indexes, and call-count triggers, present in the database at ``url``."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect(sync_conn: sa.Connection) -> set[str]:
                inspector = sa.inspect(sync_conn)
                indexes = {str(i["name"]) for i in inspector.get_indexes("calls")}
                return set(inspector.get_table_names()) | indexes

            tables = await conn.run_sync(inspect)
            if conn.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            else:
                query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
            triggers = set((await conn.execute(sa.text(query))).scalars())
    finally:
        await engine.dispose()
    return tables, triggers


async def _upgrade_backfill_downgrade(url: str) -> None:
    await migrate.upgrade_async(url, "0001")
    await _seed_before_counters(url)

    await migrate.upgrade_async(url)
    db = Database(url)
    try:
        await assert_counters_exact(db)
        assert sum((await _groups_from_counters(db)).values()) == 25
        await insert_call(db, "org-a", "agent-9", status="queued")
        await assert_counters_exact(db)
    finally:
        await db.dispose()
    tables, triggers = await _names(url)
    assert {"call_counts", WIDE_INDEX} <= tables
    assert NARROW_INDEX not in tables
    assert {"calls_count_insert", "calls_count_update", "calls_count_delete"} <= triggers

    await asyncio.to_thread(migrate.downgrade, url, "0001")
    tables, triggers = await _names(url)
    assert "call_counts" not in tables
    assert WIDE_INDEX not in tables
    assert NARROW_INDEX in tables
    assert not {t for t in triggers if t.startswith("calls_count")}
    db = Database(url)
    try:
        await insert_call(db, "org-b", "agent-9", status="queued")
    finally:
        await db.dispose()

    await migrate.upgrade_async(url)
    db = Database(url)
    try:
        await assert_counters_exact(db)
    finally:
        await db.dispose()


async def test_migration_backfills_and_downgrades_on_sqlite(tmp_path: Path) -> None:
    await _upgrade_backfill_downgrade(f"sqlite+aiosqlite:///{tmp_path / 'counts.db'}")


async def test_migration_backfills_and_downgrades_on_postgres() -> None:
    name = f"voxline_counts_{uuid.uuid4().hex[:10]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await _upgrade_backfill_downgrade(url)
    finally:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_calls_without_an_agent_are_counted_exactly(
    db: Database, settings: Settings, tenant: Tenant, agents_of: list[str]
) -> None:
    ids = [
        await insert_call(db, tenant.org_id, None, direction="inbound", status="failed")
        for _ in range(3)
    ]
    await insert_call(db, tenant.org_id, agents_of[0], direction="inbound", status="failed")
    await assert_counters_exact(db)
    await _set(db, ids[0], agent_id=agents_of[1])
    await _set(db, ids[1], status="completed")
    await assert_counters_exact(db)
    async with db.write() as conn:
        await conn.execute(calls.delete().where(calls.c.id == ids[2]))
    await assert_counters_exact(db)
    await assert_totals_exact(db, settings, tenant.org_id, agents_of)
    _, total = await list_calls(db, settings, tenant.org_id, CallFilters(), limit=1, offset=0)
    assert total == 3


async def _nil_agents_become_null_and_back(url: str) -> None:
    await migrate.upgrade_async(url, "0004")
    db = Database(url)
    try:
        now = utcnow()
        async with db.write() as conn:
            await conn.execute(
                organizations.insert().values(
                    id="org-a",
                    name="org-a",
                    credit_balance_micros=0,
                    created_at=now,
                    updated_at=now,
                )
            )
        turned_away = await insert_call(db, "org-a", NO_AGENT, direction="inbound", status="failed")
        taken = await insert_call(db, "org-a", "agent-1", direction="inbound", status="completed")
    finally:
        await db.dispose()

    async def agents() -> dict[str, str | None]:
        db = Database(url)
        try:
            await assert_counters_exact(db)
            async with db.read() as conn:
                rows = await conn.execute(sa.select(calls.c.id, calls.c.agent_id))
                return {row.id: row.agent_id for row in rows}
        finally:
            await db.dispose()

    await migrate.upgrade_async(url)
    assert await agents() == {turned_away: None, taken: "agent-1"}
    db = Database(url)
    try:
        await insert_call(db, "org-a", None, direction="inbound", status="failed")
    finally:
        await db.dispose()
    assert list((await agents()).values()).count(None) == 2
    await asyncio.to_thread(migrate.downgrade, url, "0004")
    assert set((await agents()).values()) == {NO_AGENT, "agent-1"}


async def test_calls_under_the_nil_agent_become_agentless_on_sqlite(tmp_path: Path) -> None:
    await _nil_agents_become_null_and_back(f"sqlite+aiosqlite:///{tmp_path / 'agents.db'}")


async def test_calls_under_the_nil_agent_become_agentless_on_postgres() -> None:
    name = f"voxline_agents_{uuid.uuid4().hex[:10]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await _nil_agents_become_null_and_back(url)
    finally:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
