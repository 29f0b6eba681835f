"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime, whatever the backend stores.

    SQLite keeps no zone, so values are normalised to UTC on the way in and marked UTC on the
    way out. Reading is on the hot path of every list (a page of calls holds hundreds of
    timestamps), so each backend gets the cheapest exact conversion: PostgreSQL's driver
    already returns aware UTC values, and SQLite's stored text is parsed in one call.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return _aware_utc(value)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        if dialect.name == "sqlite":
            return _utc_from_sqlite_text
        if dialect.driver == "asyncpg":
            # asyncpg decodes timestamptz as an aware datetime in UTC already.
            return _aware_utc
        return super().result_processor(dialect, coltype)


def _utc_from_sqlite_text(value: str | None) -> datetime | None:
    # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" in UTC; the offset makes the result aware
    # (fromisoformat returns the shared ``UTC`` instance for +00:00).
    return None if value is None else datetime.fromisoformat(f"{value}+00:00")


def _aware_utc(value: datetime | None) -> datetime | None:
    """The same instant, aware and in UTC; a naive value is taken as UTC."""
    if value is None or value.tzinfo is UTC:
        return value
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
