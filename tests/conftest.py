"""Fixtures shared by the whole suite.

Database tests run on SQLite and on PostgreSQL: the ``backend`` fixture is parametrized, so a
test that asks for ``db``, ``app`` or ``client`` runs once per backend. Each backend's schema is
built once per session by the real migrations; SQLite tests then get a copy of the migrated
file, PostgreSQL tests a truncated database.

PostgreSQL is reached at ``VOXLINE_TEST_POSTGRES_URL`` (default: the local server at
127.0.0.1:5432, user postgres); a fresh database is created for each test session.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.factories import Tenant, app_for, make_tenant
from voxline.config import Settings, load_settings
from voxline.storage import migrate
from voxline.storage.db import Database
from voxline.storage.tables import metadata

POSTGRES_ADMIN_URL = os.environ.get(
    "VOXLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgres"]
API = "/api/public/v1"


@dataclass
class BackendInfo:
    name: str
    template: Path | None = None
    url: str | None = None


@pytest.fixture(scope="session")
async def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    await migrate.upgrade_async(f"sqlite+aiosqlite:///{path}")
    return path


async def _admin_execute(statement: str) -> None:
    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    name = f"voxline_test_{uuid.uuid4().hex[:12]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    await migrate.upgrade_async(url)
    yield url
    await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A migrated, empty database of the test's backend (emptied in the ``db`` fixture)."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "voxline.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-key",
        rate_limit_per_minute=0,
        log_format="console",
        sandbox_mode="text",
        webhooks_allow_private_networks=True,
    )


@pytest.fixture
async def db(settings: Settings, backend: str) -> AsyncIterator[Database]:
    database = Database(settings.resolved_database_url)
    if backend == "postgres":
        async with database.write() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            await conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    yield database
    await database.dispose()


@pytest.fixture
def app_factory(db: Database) -> Iterator[object]:
    """Build an app over the test database with settings overrides."""

    def build(settings: Settings) -> object:
        return app_for(settings, db=db)

    yield build


@pytest.fixture
async def client(settings: Settings, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = app_for(settings, db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield http


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    return await make_tenant(db, "Acme")


@pytest.fixture
async def other_tenant(db: Database) -> Tenant:
    return await make_tenant(db, "Globex")
