"""The database handle: engines, sessions and units of work.

``Database.read()`` opens a read transaction, ``Database.write()`` a write transaction that
commits on success and rolls back on any error, so a failed request leaves nothing half
written. On SQLite, write transactions start with ``BEGIN IMMEDIATE``: writers queue for the
lock up front (with a busy timeout) instead of failing when a reader upgrades.

``Database.query()`` runs one read-only statement, the cheapest way to read: a single
statement sees one consistent snapshot on both backends, so it needs no transaction of its
own. On PostgreSQL it is one round trip (no ``BEGIN``/``ROLLBACK``); on SQLite the whole
statement runs on a synchronous connection in a small pool of reader threads, one thread hop
instead of one per cursor call as through the async driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pydantic_core
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from voxline.domain.text import TRUNCATED

SQLITE_BUSY_TIMEOUT_SECONDS = 30
SQLITE_READER_THREADS = 4

# Set while the current task holds the SQLite writers' turn (see Database.write).
_in_write: ContextVar[bool] = ContextVar("voxline_in_sqlite_write", default=False)


def load_json(text: str | bytes) -> Any:
    """A stored JSON value, as the standard library would read it, four to six times faster
    (the JSON columns of a page of calls are a few hundred values). pydantic-core's parser
    keeps large integers exact and reads ``NaN`` and ``Infinity`` as ``json.dumps`` writes
    them; what it still refuses (an unpaired surrogate escape, deep nesting) goes to the
    standard library. A value nested too deep even for that (not written by the API, whose
    policy bounds depth) reads as ``"[truncated]"`` rather than failing the whole query."""
    try:
        return pydantic_core.from_json(text)
    except ValueError:
        try:
            return json.loads(text)
        except RecursionError:
            return TRUNCATED


def _sqlite_pragmas(dbapi_connection: Any) -> None:
    # Let SQLAlchemy, not the driver, issue BEGIN (see the SQLAlchemy SQLite docs).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def prepare_sqlite_file(database: str | None) -> None:
    """Create a SQLite database file (and its directory) readable by this user only, before
    SQLite does so with the umask's looser mode; SQLite gives its WAL and shared-memory
    files the database's mode. An existing file or directory is left as it is."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))


class Database:
    """Owns the engines of one process; create with :func:`create_database`."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        # What query() runs on: on SQLite a synchronous engine in reader threads, else an
        # autocommit view of the async engine.
        self._sqlite_readers: tuple[Engine, ThreadPoolExecutor] | None = None
        self._query_engine: AsyncEngine | None = None
        self._write_turn: asyncio.Lock | None = None
        if self.is_sqlite:
            prepare_sqlite_file(parsed.database)
            self._reader = self._sqlite_engine(url, "BEGIN", echo)
            self._writer = self._sqlite_engine(url, "BEGIN IMMEDIATE", echo)
            self._write_turn = asyncio.Lock()
            self._sqlite_readers = (
                self._sqlite_sync_reader(parsed.set(drivername="sqlite+pysqlite"), echo),
                ThreadPoolExecutor(
                    SQLITE_READER_THREADS, thread_name_prefix="voxline-sqlite-reader"
                ),
            )
        else:
            # No pre-ping: it costs a round trip on every checkout (the API's reads are a few
            # hundred microseconds); recycling connections handles servers that drop idle ones.
            engine = create_async_engine(
                url,
                echo=echo,
                pool_size=10,
                max_overflow=20,
                pool_recycle=1800,
                json_deserializer=load_json,
            )
            self._reader = self._writer = engine
            self._query_engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def engine(self) -> AsyncEngine:
        return self._writer

    @staticmethod
    def _sqlite_engine(url: str, begin: str, echo: bool) -> AsyncEngine:
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            json_deserializer=load_json,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_connection)

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)

        return engine

    @staticmethod
    def _sqlite_sync_reader(url: sa.URL, echo: bool) -> Engine:
        """Synchronous connections to the same file for :meth:`query`. Each is used by one
        reader thread at a time (the pool hands it out), and stays in autocommit: a single
        ``SELECT`` is its own read transaction."""
        engine = sa.create_engine(
            url,
            echo=echo,
            pool_size=SQLITE_READER_THREADS,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            json_deserializer=load_json,
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_connection)

        return engine

    async def query(
        self, statement: sa.Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[sa.Row[Any]]:
        """Every row of one read-only statement, all from one consistent snapshot.

        Reading several tables consistently is one statement's job here (a subquery or a
        CTE); a read that needs several statements uses :meth:`read`.
        """
        if self._sqlite_readers is not None:
            reader, threads = self._sqlite_readers

            def run() -> Sequence[sa.Row[Any]]:
                with reader.connect() as conn:
                    return conn.execute(statement, params).all()

            return await asyncio.get_running_loop().run_in_executor(threads, run)
        assert self._query_engine is not None
        async with self._query_engine.connect() as conn:
            return (await conn.execute(statement, params)).all()

    async def ping(self, within: float) -> None:
        """Raise unless the database answers ``SELECT 1`` within ``within`` seconds
        (``TimeoutError`` when it does not answer, the driver's error when it refuses)."""
        async with asyncio.timeout(within):
            await self.query(sa.select(1))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a read transaction (rolled back at the end)."""
        async with self._reader.connect() as conn, conn.begin() as tx:
            yield conn
            await tx.rollback()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction: committed on success, else rolled back.

        On SQLite the process's writers take turns in arrival order before they ask for the
        database's write lock: SQLite's own busy handler polls with sleeps of up to 100 ms,
        which under a burst of writers (eight concurrent ``POST /calls``) made the unlucky
        ones wait hundreds of milliseconds. Another process still meets the busy timeout.
        A write opened inside another (in the same task) goes straight to SQLite, as before.
        """
        if self._write_turn is None or _in_write.get():
            async with self._writer.begin() as conn:
                yield conn
            return
        async with self._write_turn:
            token = _in_write.set(True)
            try:
                async with self._writer.begin() as conn:
                    yield conn
            finally:
                _in_write.reset(token)

    async def dispose(self) -> None:
        await self._reader.dispose()
        if self._writer is not self._reader:
            await self._writer.dispose()
        if self._sqlite_readers is not None:
            reader, threads = self._sqlite_readers
            threads.shutdown(wait=True)
            reader.dispose()


def create_database(url: str, *, echo: bool = False) -> Database:
    return Database(url, echo=echo)
