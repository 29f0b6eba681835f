"""The database handle: engines, sessions and units of work.

``Database.read()`` opens a read transaction, ``Database.write()`` a write transaction that
commits on success and rolls back on any error, so a failed request leaves nothing half
written. On SQLite, write transactions start with ``BEGIN IMMEDIATE``: writers queue for the
lock up front (with a busy timeout) instead of failing when a reader upgrades.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30


class Database:
    """Owns the engines of one process; create with :func:`create_database`."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        if self.is_sqlite:
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self._reader = self._sqlite_engine(url, "BEGIN", echo)
            self._writer = self._sqlite_engine(url, "BEGIN IMMEDIATE", echo)
        else:
            # No pre-ping: it costs a round trip on every checkout (the API's reads are a few
            # hundred microseconds); recycling connections handles servers that drop idle ones.
            engine = create_async_engine(
                url, echo=echo, pool_size=10, max_overflow=20, pool_recycle=1800
            )
            self._reader = self._writer = engine

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def engine(self) -> AsyncEngine:
        return self._writer

    @staticmethod
    def _sqlite_engine(url: str, begin: str, echo: bool) -> AsyncEngine:
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, issue BEGIN (see the SQLAlchemy SQLite docs).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)

        return engine

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a read transaction (rolled back at the end)."""
        async with self._reader.connect() as conn, conn.begin() as tx:
            yield conn
            await tx.rollback()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction: committed on success, else rolled back."""
        async with self._writer.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self._reader.dispose()
        if self._writer is not self._reader:
            await self._writer.dispose()


def create_database(url: str, *, echo: bool = False) -> Database:
    return Database(url, echo=echo)
