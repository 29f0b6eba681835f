"""Schema migrations (Alembic), run by ``voxline db upgrade`` and at ``voxline serve`` start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from voxline.storage.db import prepare_sqlite_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _prepare(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        prepare_sqlite_file(parsed.database)


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (blocking; call outside an event loop)."""
    _prepare(url)
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """:func:`upgrade` from inside a running event loop (Alembic's env starts its own loop)."""
    await asyncio.to_thread(upgrade, url, revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
