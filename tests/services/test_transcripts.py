"""Transcript turns: every call's turns committed in groups, each call's in order, and a row
the database refuses failing its own turn only."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from tests.factories import Tenant, insert_agent, insert_call
from voxline.services.transcripts import CallTranscript, load_turns, turn_writer
from voxline.storage.db import Database


async def _calls(db: Database, tenant: Tenant, count: int) -> list[str]:
    agent_id = await insert_agent(db, tenant.org_id)
    return [await insert_call(db, tenant.org_id, agent_id) for _ in range(count)]


async def _talk(transcript: CallTranscript, call: int, turns: int) -> None:
    for turn in range(turns):
        speaker = "agent" if turn % 2 == 0 else "contact"
        await transcript.add(speaker, f"call {call} turn {turn}", float(turn))


async def test_turns_added_at_once_by_many_calls_are_committed_together(
    db: Database, tenant: Tenant
) -> None:
    call_ids = await _calls(db, tenant, 5)
    writer = turn_writer(db)
    groups, rows = writer.groups, writer.rows
    # Five calls talking at once, each adding its turns one after the other.
    await asyncio.gather(
        *(_talk(CallTranscript(db, c, enabled=True), i, 4) for i, c in enumerate(call_ids))
    )
    assert writer.rows - rows == 20
    # A call's next turn waits for its last: each round of the five calls is one group.
    assert writer.groups - groups <= 5
    for index, call_id in enumerate(call_ids):
        turns = await load_turns(db, call_id)
        assert [t.text for t in turns] == [f"call {index} turn {n}" for n in range(4)]
        assert [t.speaker for t in turns] == ["agent", "contact", "agent", "contact"]
        assert [t.timestamp for t in turns] == [0.0, 1.0, 2.0, 3.0]


async def test_one_call_alone_writes_each_turn_as_it_comes(db: Database, tenant: Tenant) -> None:
    (call_id,) = await _calls(db, tenant, 1)
    writer = turn_writer(db)
    groups = writer.groups
    await _talk(CallTranscript(db, call_id, enabled=True), 0, 3)
    assert writer.groups - groups == 3
    assert len(await load_turns(db, call_id)) == 3


async def test_a_turn_the_database_refuses_fails_alone(db: Database, tenant: Tenant) -> None:
    (call_id,) = await _calls(db, tenant, 1)
    gone = CallTranscript(db, str(uuid.uuid4()), enabled=True)  # no such call
    kept = CallTranscript(db, call_id, enabled=True)
    results = await asyncio.gather(
        kept.add("agent", "Hello.", 0.0),
        gone.add("agent", "Hello?", 0.0),
        kept.add("contact", "Hi.", 1.0),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], sa.exc.IntegrityError)
    assert [t.text for t in await load_turns(db, call_id)] == ["Hello.", "Hi."]


async def test_a_transcript_that_is_off_or_empty_writes_nothing(
    db: Database, tenant: Tenant
) -> None:
    (call_id,) = await _calls(db, tenant, 1)
    await CallTranscript(db, call_id, enabled=False).add("agent", "Hello.", 0.0)
    await CallTranscript(db, call_id, enabled=True).add("agent", "   ", 0.0)
    assert await load_turns(db, call_id) == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_unreachable_database_fails_the_group_at_once(
    db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_ids = await _calls(db, tenant, 3)
    writer = turn_writer(db)
    attempts = 0

    async def refused(rows: list[dict[str, object]]) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionRefusedError("database unreachable")

    monkeypatch.setattr(writer, "_insert", refused)
    results = await asyncio.gather(
        *(CallTranscript(db, c, enabled=True).add("agent", "Hi.", 0.0) for c in call_ids),
        return_exceptions=True,
    )
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    assert attempts == 1  # not retried row by row


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_turns_waiting_on_a_cancelled_write_are_cancelled_not_left_waiting(
    db: Database, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    call_ids = await _calls(db, tenant, 2)
    writer = turn_writer(db)
    started = asyncio.Event()

    async def stuck(rows: list[dict[str, object]]) -> None:
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(writer, "_insert", stuck)
    first = asyncio.create_task(CallTranscript(db, call_ids[0], enabled=True).add("agent", "A", 0))
    await started.wait()
    # Queued behind the stuck write.
    second = asyncio.create_task(CallTranscript(db, call_ids[1], enabled=True).add("agent", "B", 0))
    await asyncio.sleep(0)
    drain = writer._writing
    assert drain is not None
    drain.cancel()
    for waiting in (first, second):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 5)
    assert writer._writing is None
