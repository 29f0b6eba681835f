"""The Alembic migrations build the same schema as the table definitions, on both backends."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import POSTGRES_ADMIN_URL, _admin_execute
from voxline.storage import migrate
from voxline.storage.tables import metadata


async def _schema(url: str) -> dict[str, dict[str, object]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def inspect(sync_conn: sa.Connection) -> dict[str, dict[str, object]]:
                inspector = sa.inspect(sync_conn)
                return {
                    table: {
                        "columns": sorted(c["name"] for c in inspector.get_columns(table)),
                        "indexes": sorted(
                            i["name"]
                            for i in inspector.get_indexes(table)
                            # PostgreSQL also lists the indexes behind unique constraints.
                            if i["name"] and i["name"].startswith("ix_")
                        ),
                        "unique": sorted(
                            tuple(u["column_names"])
                            for u in inspector.get_unique_constraints(table)
                        ),
                    }
                    for table in inspector.get_table_names()
                    if table != "alembic_version"
                }

            return await conn.run_sync(inspect)
    finally:
        await engine.dispose()


def _expected() -> dict[str, list[str]]:
    return {t.name: sorted(c.name for c in t.columns) for t in metadata.sorted_tables}


async def test_upgrade_builds_every_table_on_empty_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await migrate.upgrade_async(url)
    schema = await _schema(url)
    assert {t: s["columns"] for t, s in schema.items()} == _expected()


async def test_upgrade_builds_the_same_schema_on_empty_postgres() -> None:
    name = "voxline_migration_test"
    await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin_execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await migrate.upgrade_async(url)
        postgres = await _schema(url)
    finally:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert {t: s["columns"] for t, s in postgres.items()} == _expected()


async def test_sqlite_and_postgres_get_the_same_indexes_and_unique_keys(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await migrate.upgrade_async(sqlite_url)
    sqlite = await _schema(sqlite_url)
    postgres = await _schema(postgres_url)
    for table in _expected():
        assert sqlite[table]["indexes"] == postgres[table]["indexes"], table
        assert sqlite[table]["unique"] == postgres[table]["unique"], table


async def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'again.db'}"
    await migrate.upgrade_async(url)
    await migrate.upgrade_async(url)
    assert set(await _schema(url)) == set(_expected())


@pytest.mark.parametrize("table", [t.name for t in metadata.sorted_tables])
def test_every_table_is_in_the_initial_migration(table: str) -> None:
    versions = Path(migrate.MIGRATIONS_DIR, "versions")
    text = "".join(p.read_text() for p in versions.glob("*.py"))
    assert re.search(rf"create_table\(\s*[\"']{table}[\"']", text)
