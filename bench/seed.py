"""Benchmark data: a tenant with agents, a number and a key, and calls written in bulk.

Calls are written straight into the table (PostgreSQL ``COPY``; SQLite one ``executemany``
transaction), never through the API, so a million rows take a minute, not an hour. The
``call_counts`` triggers run as for any other write. The mix looks like a year of real
traffic: mostly ended calls, a few live ones, agents of very different sizes.
"""

from __future__ import annotations

import bisect
import json
import random
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench.common import asyncpg_dsn
from voxline.services import billing, keys, orgs
from voxline.storage.db import Database
from voxline.storage.tables import agents, calls, phone_numbers
from voxline.storage.types import utcnow

# Share of calls per agent (agent 0 is the busiest), per direction and per status.
AGENT_WEIGHTS = (40, 20, 10, 6, 5, 5, 4, 4, 3, 3)
DIRECTION_WEIGHTS = {"outbound": 80, "inbound": 20}
STATUS_WEIGHTS = {
    "completed": 62.0,
    "no_answer": 12.0,
    "voicemail": 8.0,
    "failed": 8.0,
    "busy": 9.5,
    "queued": 0.2,
    "ringing": 0.1,
    "in_progress": 0.2,
}
END_REASONS = {
    "completed": "contact_hangup",
    "no_answer": "join_timeout",
    "voicemail": "voicemail",
    "failed": "provider_error",
    "busy": "busy",
}
SPAN = timedelta(days=365)
# The last row of the biggest data set is "now"; row i sits i steps later than row 0.
FULL_SIZE = 1_000_000
NEIGHBOUR_EVERY = 100
SETTINGS_JSON = json.dumps(
    {
        "recording_enabled": True,
        "transcription_enabled": True,
        "greeting": None,
        "max_duration_seconds": 3600.0,
        "join_timeout_seconds": 30.0,
    }
)
COLUMNS = [c.name for c in calls.columns]
JSON_COLUMNS = {"variables", "settings", "context", "metrics"}


@dataclass(frozen=True)
class BenchTenant:
    org_id: str
    api_key: str
    agent_ids: list[str]
    phone_number: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def create_tenant(url: str, name: str, *, phone_number: str) -> BenchTenant:
    """An organization with $1,000,000 credit, ten agents and one sandbox number (for the
    first agent), through the services where they exist."""
    db = Database(url)
    try:
        org = await orgs.create_org(db, name)
        await orgs.set_concurrency_limit(db, org.id, 100_000)
        issued = await keys.create_key(db, org.id, "bench")
        await billing.set_balance(db, org.id, Decimal(1_000_000))
        now = utcnow()
        agent_ids = [str(uuid.uuid4()) for _ in AGENT_WEIGHTS]
        async with db.write() as conn:
            for index, agent_id in enumerate(agent_ids):
                await conn.execute(
                    agents.insert().values(
                        id=agent_id,
                        organization_id=org.id,
                        name=f"Bench agent {index}",
                        description=None,
                        system_prompt="You are Ava.\n- Would Tuesday at ten work for you?",
                        greeting="Hi, this is Ava.",
                        model="scripted",
                        voice_id=None,
                        temperature=0.3,
                        language_hint="en-US",
                        recording_enabled=False,
                        join_timeout_seconds=30.0,
                        max_duration_seconds=3600.0,
                        status="active",
                        created_at=now,
                        updated_at=now,
                    )
                )
            await conn.execute(
                phone_numbers.insert().values(
                    id=str(uuid.uuid4()),
                    organization_id=org.id,
                    phone_number=phone_number,
                    provider_type="sandbox",
                    status="active",
                    is_managed=True,
                    outbound_agent_id=agent_ids[0],
                    inbound_agent_id=agent_ids[0],
                    created_at=now,
                    updated_at=now,
                )
            )
        return BenchTenant(org.id, issued.secret, agent_ids, phone_number)
    finally:
        await db.dispose()


class _Chooser:
    """Weighted choices from a seeded generator (bisect over cumulative weights: fast)."""

    def __init__(self, rng: random.Random, weights: dict[str, float]) -> None:
        self.rng = rng
        self.values = list(weights)
        total = 0.0
        self.bounds: list[float] = []
        for weight in weights.values():
            total += weight
            self.bounds.append(total)
        self.total = total

    def __call__(self) -> str:
        return self.values[bisect.bisect(self.bounds, self.rng.random() * self.total)]


def call_rows(
    main: BenchTenant, neighbour: BenchTenant, start: int, count: int
) -> Iterator[dict[str, Any]]:
    """Rows ``start`` to ``start + count`` of the benchmark's call history (deterministic)."""
    rng = random.Random(start)
    end = datetime.now(UTC)
    step = SPAN / FULL_SIZE
    status_of = _Chooser(rng, STATUS_WEIGHTS)
    direction_of = _Chooser(rng, {k: float(v) for k, v in DIRECTION_WEIGHTS.items()})
    agent_of = _Chooser(rng, {str(n): float(w) for n, w in enumerate(AGENT_WEIGHTS)})
    for i in range(start, start + count):
        tenant = neighbour if i % NEIGHBOUR_EVERY == 0 else main
        agent_id = tenant.agent_ids[int(agent_of())]
        status = status_of()
        created = end - (FULL_SIZE - i) * step
        ended = status not in ("queued", "ringing", "in_progress")
        talked = status in ("completed", "in_progress")
        duration = 30 + i % 240 if talked else 0
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "organization_id": tenant.org_id,
            "agent_id": agent_id,
            "direction": direction_of(),
            "status": status,
            "phone_number": f"+1415{rng.randrange(10**7):07d}",
            "from_number": tenant.phone_number,
            "phone_number_id": None,
            "provider_type": "sandbox",
            "provider_call_id": None if status == "queued" else f"SBX{i:032x}",
            "variables": json.dumps({"first_name": "Ana", "company": "Acme Solar"}),
            "settings": SETTINGS_JSON,
            "context": "{}",
            "end_reason": END_REASONS.get(status),
            "answered_by": "human" if talked else None,
            "summary": "The contact agreed to a consultation on Tuesday." if ended else None,
            "recording_path": None,
            "provider_recording_url": None,
            "metrics": None,
            "cost_micros": duration * 833 if ended else None,
            "duration_seconds": duration if ended else None,
            "started_at": created + timedelta(seconds=5) if talked else None,
            "ended_at": created + timedelta(seconds=5 + duration) if ended else None,
            "not_before": created if status == "queued" else None,
            "deadline_at": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "placement_state": None,
            "attempts": 1,
            "finalized_at": created + timedelta(seconds=6 + duration) if ended else None,
            "created_at": created,
            "updated_at": created,
        }


async def seed_postgres(
    url: str, main: BenchTenant, neighbour: BenchTenant, start: int, count: int
) -> None:
    """Append ``count`` calls with ``COPY`` in chunks of 100k (one trigger run per chunk)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        chunk = 100_000
        for offset in range(start, start + count, chunk):
            size = min(chunk, start + count - offset)
            records = [
                tuple(row[c] for c in COLUMNS) for row in call_rows(main, neighbour, offset, size)
            ]
            await connection.copy_records_to_table("calls", records=records, columns=COLUMNS)
        await connection.execute("VACUUM (ANALYZE) calls")
        await connection.execute("ANALYZE call_counts")
    finally:
        await connection.close()


def _sqlite_value(column: str, value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLAlchemy's SQLite storage format for naive UTC datetimes.
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    if column in JSON_COLUMNS and value is None:
        return None if column == "metrics" else "{}"
    return value


def seed_sqlite(
    url: str, main: BenchTenant, neighbour: BenchTenant, start: int, count: int
) -> None:
    """Append ``count`` calls in one transaction with the standard library driver."""
    path = make_url(url).database
    assert path, url
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA cache_size=-262144")
        placeholders = ", ".join("?" for _ in COLUMNS)
        statement = f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        with connection:
            connection.executemany(
                statement,
                (
                    tuple(_sqlite_value(c, row[c]) for c in COLUMNS)
                    for row in call_rows(main, neighbour, start, count)
                ),
            )
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def count_calls(url: str) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(calls))).scalar_one()
            )
    finally:
        await db.dispose()
