"""The database handle: one-statement reads, JSON and timestamps as stored on each backend."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import Tenant, insert_agent, insert_call
from voxline.domain.text import TRUNCATED
from voxline.storage import migrate
from voxline.storage.db import Database, load_json
from voxline.storage.tables import calls

# --- JSON ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [true, null, "x"], "c": {"d": 2.5}}',
        '{"big": 12345678901234567890123456789}',
        "[NaN, Infinity, -Infinity]",
        '"\\ud800"',
        '{"a": 1, "a": 2}',
        "{}",
    ],
)
def test_stored_json_reads_as_the_standard_library_reads_it(text: str) -> None:
    expected = json.loads(text)

    value = load_json(text)

    # repr, because NaN is not equal to itself.
    assert repr(value) == repr(expected)
    assert repr(load_json(text.encode())) == repr(expected)


@pytest.mark.parametrize("depth", [300, 500])
def test_stored_json_nested_beyond_pydantic_still_reads_exactly(depth: int) -> None:
    text = "[" * depth + "]" * depth
    assert load_json(text) == json.loads(text)


def test_stored_json_too_deep_for_any_parser_reads_as_a_marker() -> None:
    text = "[" * 100_000 + "]" * 100_000

    assert load_json(text) == TRUNCATED


async def test_json_columns_keep_large_integers_exact(db: Database, tenant: Tenant) -> None:
    agent = await insert_agent(db, tenant.org_id)
    metrics = {"frames": 10**30, "ratio": 0.125, "nested": {"list": [1, "two", None]}}
    call_id = await insert_call(db, tenant.org_id, agent, metrics=metrics)

    rows = await db.query(sa.select(calls.c.metrics).where(calls.c.id == call_id))

    assert rows[0].metrics == metrics


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 8, 9, 30, 0, tzinfo=UTC),
        datetime(2026, 3, 8, 9, 30, 0, 123456, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
async def test_timestamps_read_back_as_the_same_instant_in_utc(
    db: Database, tenant: Tenant, at: datetime
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    call_id = await insert_call(db, tenant.org_id, agent, created_at=at, started_at=None)
    selected = sa.select(calls.c.created_at, calls.c.started_at).where(calls.c.id == call_id)

    (queried,) = await db.query(selected)
    async with db.read() as conn:
        read = (await conn.execute(selected)).one()

    for row in (queried, read):
        assert row.created_at == at
        assert row.created_at.tzinfo is UTC
        assert row.started_at is None


async def test_stored_timestamps_keep_their_order_in_range_filters(
    db: Database, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    base = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    # A whole second sorts before a later fraction of it: SQLite compares the stored text.
    whole = await insert_call(db, tenant.org_id, agent, created_at=base)
    fraction = await insert_call(
        db, tenant.org_id, agent, created_at=base + timedelta(microseconds=1)
    )

    rows = await db.query(
        sa.select(calls.c.id)
        .where(calls.c.organization_id == tenant.org_id, calls.c.created_at > base)
        .order_by(calls.c.created_at)
    )

    assert [r.id for r in rows] == [fraction]
    assert whole != fraction


# --- Database.query --------------------------------------------------------------------------


async def test_query_sees_every_committed_write(db: Database, tenant: Tenant) -> None:
    agent = await insert_agent(db, tenant.org_id)
    mine = sa.select(calls.c.id, calls.c.status).where(calls.c.organization_id == tenant.org_id)
    assert await db.query(mine) == []

    call_id = await insert_call(db, tenant.org_id, agent, status="queued")
    assert [tuple(r) for r in await db.query(mine)] == [(call_id, "queued")]

    async with db.write() as conn:
        await conn.execute(calls.update().where(calls.c.id == call_id).values(status="ringing"))
    assert [tuple(r) for r in await db.query(mine)] == [(call_id, "ringing")]

    async with db.write() as conn:
        await conn.execute(calls.delete().where(calls.c.id == call_id))
    assert await db.query(mine) == []


async def test_query_does_not_see_uncommitted_writes(db: Database, tenant: Tenant) -> None:
    agent = await insert_agent(db, tenant.org_id)
    call_id = await insert_call(db, tenant.org_id, agent, status="queued")
    ringing = sa.select(sa.func.count()).where(
        calls.c.organization_id == tenant.org_id, calls.c.status == "ringing"
    )

    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute(calls.update().where(calls.c.id == call_id).values(status="ringing"))
            (during,) = await db.query(ringing)
            raise RuntimeError("roll back")

    (after,) = await db.query(ringing)
    assert (during[0], after[0]) == (0, 0)


async def test_sqlite_queries_run_off_the_event_loop_thread(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'voxline.db'}"
    await migrate.upgrade_async(url)
    database = Database(url)
    loop_thread = threading.get_ident()
    seen: list[int] = []

    @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def _record(*_: object) -> None:
        seen.append(threading.get_ident())

    try:
        results = await asyncio.gather(
            *(database.query(sa.select(sa.literal(n))) for n in range(8))
        )
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", _record)
        await database.dispose()

    assert [r[0][0] for r in results] == list(range(8))
    assert seen and loop_thread not in seen


async def test_a_failing_query_raises_and_the_database_stays_usable(db: Database) -> None:
    with pytest.raises(sa.exc.DBAPIError):
        await db.query(sa.text("SELECT * FROM no_such_table"))

    (row,) = await db.query(sa.select(sa.literal(1).label("one")))
    assert row.one == 1


# --- SQLite writers --------------------------------------------------------------------------


async def test_sqlite_writers_of_one_process_commit_in_arrival_order(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'voxline.db'}")
    try:
        async with database.write() as conn:
            await conn.execute(sa.text("CREATE TABLE turns (seq INTEGER NOT NULL)"))

        async def writer(seq: int) -> None:
            async with database.write() as conn:
                await asyncio.sleep(0.001)  # hold the transaction while the others arrive
                await conn.execute(sa.text("INSERT INTO turns (seq) VALUES (:seq)"), {"seq": seq})

        await asyncio.gather(*(writer(seq) for seq in range(20)))

        rows = await database.query(sa.text("SELECT seq FROM turns ORDER BY rowid"))
    finally:
        await database.dispose()

    assert [r.seq for r in rows] == list(range(20))


async def test_a_failed_sqlite_write_lets_the_next_writer_in(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'voxline.db'}")
    try:
        async with database.write() as conn:
            await conn.execute(sa.text("CREATE TABLE t (n INTEGER NOT NULL)"))

        async def failing() -> None:
            async with database.write() as conn:
                await conn.execute(sa.text("INSERT INTO t (n) VALUES (1)"))
                raise RuntimeError("abandon the transaction")

        async def succeeding() -> None:
            async with database.write() as conn:
                await conn.execute(sa.text("INSERT INTO t (n) VALUES (2)"))

        outcomes = await asyncio.wait_for(
            asyncio.gather(failing(), succeeding(), return_exceptions=True), timeout=10
        )
        rows = await database.query(sa.text("SELECT n FROM t"))
    finally:
        await database.dispose()

    assert isinstance(outcomes[0], RuntimeError) and outcomes[1] is None
    assert [r.n for r in rows] == [2]
