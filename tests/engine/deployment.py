"""A multi-process deployment for tests: its own PostgreSQL database, migrated, and the
environment ``voxline serve`` / ``voxline worker`` processes run with.

Tests that start real processes (SIGKILL, drain, cross-worker hang-ups) share this instead of
each building the database and environment themselves.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_ADMIN_URL, _admin_execute
from voxline.storage import migrate

# What every test deployment runs with, unless the test says otherwise: short leases and
# polls so a killed worker's calls are taken over within seconds, and quiet logs.
DEFAULTS = {
    "ENGINE_LEASE_SECONDS": "3",
    "ENGINE_POLL_SECONDS": "0.2",
    "LOG_LEVEL": "WARNING",
}


@contextmanager
def postgres_deployment(
    data_dir: Path, prefix: str, **settings: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh, migrated database named ``prefix_…`` and the processes' environment (the
    caller's ``VOXLINE_*`` variables removed, :data:`DEFAULTS` and ``settings`` — names
    without the ``VOXLINE_`` prefix — added); the database is dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXLINE_")}
    env.update({f"VOXLINE_{k}": v for k, v in {**DEFAULTS, **settings}.items()})
    env.update(VOXLINE_DATABASE_URL=url, VOXLINE_DATA_DIR=str(data_dir))
    try:
        migrate.upgrade(url)
        yield url, env
    finally:
        asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_voxline(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """``python -m voxline *args`` in the background, its output discarded."""
    return subprocess.Popen(
        [sys.executable, "-m", "voxline", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
