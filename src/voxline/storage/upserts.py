"""``INSERT … ON CONFLICT`` for the backend of a connection (SQLite and PostgreSQL spell it
the same way, through different SQLAlchemy constructs)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_for(conn: AsyncConnection, table: sa.Table) -> Any:
    """An insert into ``table`` that has ``on_conflict_do_nothing`` and
    ``on_conflict_do_update`` on the connection's backend."""
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    return postgresql.insert(table)
