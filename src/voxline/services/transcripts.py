"""Writing a call's transcript turn by turn.

Every call of a process writes its turns through one :class:`TurnWriter` per database and
event loop, which commits them in groups: a turn added while no write is running is written
at once (in the loop's next turn, with any other turn added meanwhile), and the turns added
while a write runs go together in the next one, one multi-row ``INSERT`` in one transaction.
A turn's :meth:`CallTranscript.add` still returns once its own row is committed. One
transaction per turn (three round trips to PostgreSQL, each through SQLAlchemy's async
adaptation) was a sixth of the event loop's time at 300 live calls (bench/README.md,
capacity, ninth sitting). A group refused for its data is written again row by row, so one
bad row (its call deleted meanwhile) fails its own turn only; any other failure (the
database unreachable) fails the group's turns at once.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import sqlalchemy as sa

from voxline.domain.summary import Turn
from voxline.storage.db import Database
from voxline.storage.tables import transcript_turns
from voxline.storage.types import utcnow

_Row = dict[str, Any]


class TurnWriter:
    """Commits the transcript turns of every call on one database and event loop in groups
    (see the module docstring). Get it with :func:`turn_writer`."""

    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        self._db = db
        self.loop = loop
        self._queued: list[tuple[_Row, asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None
        # How many transactions wrote how many rows (for tests and benches).
        self.groups = 0
        self.rows = 0

    async def write(self, row: _Row) -> None:
        """Queue one ``transcript_turns`` row; return once it is committed."""
        done: asyncio.Future[None] = self.loop.create_future()
        # A caller that stops waiting leaves its row queued; its failure is not reported.
        done.add_done_callback(_observed)
        self._queued.append((row, done))
        if self._writing is None:
            self._writing = self.loop.create_task(self._drain())
        await asyncio.shield(done)

    async def _drain(self) -> None:
        group: list[tuple[_Row, asyncio.Future[None]]] = []
        try:
            while self._queued:
                group, self._queued = self._queued, []
                try:
                    await self._insert([row for row, _ in group])
                except sa.exc.IntegrityError:
                    await self._insert_one_by_one(group)
                except Exception as exc:
                    _fail(group, exc)
                else:
                    _settle(group)
        except BaseException:  # cancelled (the loop is closing): no turn waits for ever
            for _, done in group + self._queued:
                done.cancel()
            self._queued = []
            raise
        finally:
            self._writing = None

    async def _insert(self, rows: list[_Row]) -> None:
        async with self._db.write() as conn:
            await conn.execute(transcript_turns.insert(), rows)
        self.groups += 1
        self.rows += len(rows)

    async def _insert_one_by_one(self, group: list[tuple[_Row, asyncio.Future[None]]]) -> None:
        for row, done in group:
            try:
                await self._insert([row])
            except Exception as exc:
                _fail([(row, done)], exc)
            else:
                _settle([(row, done)])


def _settle(group: list[tuple[_Row, asyncio.Future[None]]]) -> None:
    for _, done in group:
        if not done.done():
            done.set_result(None)


def _fail(group: list[tuple[_Row, asyncio.Future[None]]], exc: BaseException) -> None:
    for _, done in group:
        if not done.done():
            done.set_exception(exc)


def _observed(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()


_writers: weakref.WeakKeyDictionary[Database, TurnWriter] = weakref.WeakKeyDictionary()


def turn_writer(db: Database) -> TurnWriter:
    """The turn writer of ``db`` on the running event loop."""
    loop = asyncio.get_running_loop()
    writer = _writers.get(db)
    if writer is None or writer.loop is not loop:
        writer = _writers[db] = TurnWriter(db, loop)
    return writer


class CallTranscript:
    """Appends turns of one call as they happen, committed in groups with other calls'
    (:class:`TurnWriter`)."""

    def __init__(self, db: Database, call_id: str, *, enabled: bool) -> None:
        self._db = db
        self._call_id = call_id
        self._enabled = enabled
        self._seq = 0

    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        if not self._enabled or not text.strip():
            return
        # The turn's place is taken before the write, so turns added at the same time (the
        # listener and the media clock) keep distinct, ordered positions.
        seq, self._seq = self._seq, self._seq + 1
        await turn_writer(self._db).write(
            {
                "call_id": self._call_id,
                "seq": seq,
                "speaker": speaker,
                "text": text,
                "timestamp": timestamp,
                "created_at": utcnow(),
            }
        )


async def load_turns(db: Database, call_id: str) -> list[Turn]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    transcript_turns.c.speaker,
                    transcript_turns.c.text,
                    transcript_turns.c.timestamp,
                )
                .where(transcript_turns.c.call_id == call_id)
                .order_by(transcript_turns.c.seq)
            )
        ).all()
    return [Turn(r.speaker, r.text, r.timestamp) for r in rows]
