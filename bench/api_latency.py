"""API latency and throughput: ``GET /calls`` (filtered, paginated) and ``POST /calls`` with
10k, 100k and 1M calls in the database, on SQLite and on PostgreSQL.

For every filter combination the same page is fetched these ways, in the same run:

- ``driver``: the exact statement Voxline issues (``call_queries.page_query``: the total
  from ``call_counts`` and the page, in one statement), compiled by SQLAlchemy and run
  straight through the driver (asyncpg; the standard ``sqlite3`` called inline, without
  even a thread hop). This is the baseline.
- ``count``: the naive total, a plain ``COUNT(*)`` of the same filters, for comparison.
- ``query``: the same statement through Voxline's ``Database.query`` (pool, snapshot read,
  a reader thread on SQLite, SQLAlchemy result processing): the page query's overhead
  factor is ``query`` ÷ ``driver``.
- ``service``: ``call_queries.list_calls`` in this process (the query and the mapping to
  ``Call`` records).
- ``http``: ``GET /api/public/v1/calls`` against ``voxline serve --no-engine`` in its own
  process, one request at a time over a keep-alive connection (auth, envelope, JSON).

``driver``, ``query`` and ``service`` take turns, one run each, so that the machine's noise
falls on all three alike.

``POST /calls`` is compared with a single-row ``INSERT`` of a call through the driver.

Run alone: ``python -m bench.api_latency --sizes 10000,100000 --backends sqlite``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from bench.common import (
    HttpClient,
    Stats,
    api_server,
    asyncpg_dsn,
    log,
    postgres_database,
    ratio,
    throughput,
    timed_requests,
)
from bench.seed import BenchTenant, create_tenant, seed_postgres, seed_sqlite
from voxline.config import load_settings
from voxline.domain.calls import CallDirection, CallStatus
from voxline.services import call_queries
from voxline.services.call_queries import CallFilters
from voxline.storage import migrate
from voxline.storage.db import Database
from voxline.storage.tables import calls

API = "/api/public/v1"
PAGE = 50
REPEAT = 150
DRIVER_REPEAT = 200
MAX_SECONDS = 6.0
COUNT_REPEAT = 7
LOAD_CONNECTIONS = 8
LOAD_SECONDS = 4.0


@dataclass(frozen=True)
class Case:
    """One ``GET /calls`` query: its filters and page."""

    name: str
    filters: CallFilters
    offset: int = 0

    def path(self) -> str:
        params: dict[str, Any] = {"limit": PAGE, "offset": self.offset}
        f = self.filters
        if f.status is not None:
            params["status"] = f.status.value
        if f.direction is not None:
            params["direction"] = f.direction.value
        if f.agent_id is not None:
            params["agent_id"] = f.agent_id
        if f.created_after is not None:
            params["created_after"] = f.created_after.isoformat()
        return f"{API}/calls?{urlencode(params)}"


def cases(tenant: BenchTenant, newest: datetime) -> list[Case]:
    """The filter combinations measured: from none to all three, common and rare groups, a
    deep page, and the last 7 days of history (a time window falls back to counting rows;
    at the data set's steady rate a week holds about 19k calls)."""
    busiest, smallest = tenant.agent_ids[0], tenant.agent_ids[-1]
    week_ago = newest - timedelta(days=7)
    return [
        Case("no filter", CallFilters()),
        Case("status", CallFilters(status=CallStatus.COMPLETED)),
        Case("direction", CallFilters(direction=CallDirection.INBOUND)),
        Case("agent (3%)", CallFilters(agent_id=smallest)),
        Case("status+agent", CallFilters(status=CallStatus.FAILED, agent_id=busiest)),
        Case(
            "status+direction+agent",
            CallFilters(
                status=CallStatus.NO_ANSWER, direction=CallDirection.INBOUND, agent_id=smallest
            ),
        ),
        Case(
            "rare: ringing+inbound+agent",
            CallFilters(
                status=CallStatus.RINGING, direction=CallDirection.INBOUND, agent_id=smallest
            ),
        ),
        Case("status, offset 1000", CallFilters(status=CallStatus.COMPLETED), offset=1000),
        Case(
            "status+created_after (7 days)",
            CallFilters(status=CallStatus.COMPLETED, created_after=week_ago),
        ),
    ]


# --- the statements, as the service builds them ----------------------------------------------


def statements(org_id: str, case: Case) -> dict[str, tuple[sa.Select[Any], dict[str, Any]]]:
    """The service's own statement (total and page in one) and a plain ``COUNT(*)`` of the
    same filters, for comparison, each with its parameters."""
    page = call_queries.page_query(org_id, case.filters, limit=PAGE, offset=case.offset)
    conditions = [calls.c.organization_id == org_id]
    f = case.filters
    if f.status is not None:
        conditions.append(calls.c.status == f.status.value)
    if f.direction is not None:
        conditions.append(calls.c.direction == f.direction.value)
    if f.agent_id is not None:
        conditions.append(calls.c.agent_id == f.agent_id)
    if f.created_after is not None:
        conditions.append(calls.c.created_at > f.created_after)
    count = sa.select(sa.func.count()).select_from(calls).where(*conditions)
    return {"page": (page.statement, page.params), "count": (count, {})}


def compile_for(
    statement: sa.Select[Any], params: dict[str, Any], dialect_name: str
) -> tuple[str, list[Any]]:
    """SQL text and positional parameters as the driver receives them."""
    dialect = postgresql.asyncpg.dialect() if dialect_name == "postgres" else sqlite.dialect()
    compiled = statement.compile(dialect=dialect)
    params = compiled.construct_params(params)
    values = [params[name] for name in compiled.positiontup or []]
    if dialect_name == "sqlite":
        values = [
            v.astimezone(UTC).replace(tzinfo=None).isoformat(" ") if isinstance(v, datetime) else v
            for v in values
        ]
    return str(compiled), values


# --- the driver baseline ---------------------------------------------------------------------


class Driver:
    """The database driver alone: one connection, prepared statements, no mapping."""

    def __init__(self, url: str, backend: str) -> None:
        self.url = url
        self.backend = backend
        self._pg: asyncpg.Connection | None = None
        self._lite: sqlite3.Connection | None = None

    async def __aenter__(self) -> Driver:
        if self.backend == "postgres":
            self._pg = await asyncpg.connect(asyncpg_dsn(self.url))
        else:
            database = make_url(self.url).database
            assert database
            self._lite = sqlite3.connect(database, isolation_level=None)
            self._lite.execute("PRAGMA journal_mode=WAL")
            self._lite.execute("PRAGMA synchronous=NORMAL")
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._lite is not None:
            self._lite.close()

    async def fetch(self, sql: str, params: list[Any]) -> int:
        if self._pg is not None:
            return len(await self._pg.fetch(sql, *params))
        assert self._lite is not None
        return len(self._lite.execute(sql, params).fetchall())

    async def execute(self, sql: str, params: list[Any]) -> None:
        if self._pg is not None:
            await self._pg.execute(sql, *params)
            return
        assert self._lite is not None
        with self._lite:
            self._lite.execute("BEGIN IMMEDIATE")
            self._lite.execute(sql, params)


async def timed(action: Callable[[], Awaitable[object]], repeat: int, seconds: float) -> Stats:
    for _ in range(min(5, repeat)):
        await action()
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    for _ in range(repeat):
        started = time.perf_counter()
        await action()
        latencies.append(time.perf_counter() - started)
        if started > stop_at:
            break
    return Stats.of(latencies)


async def timed_together(
    actions: dict[str, Callable[[], Awaitable[object]]], repeat: int, seconds: float
) -> dict[str, Stats]:
    """Each action ``repeat`` times, taking turns, so that a slow moment of the machine falls
    on all of them alike."""
    for action in actions.values():
        for _ in range(min(5, repeat)):
            await action()
    latencies: dict[str, list[float]] = {name: [] for name in actions}
    stop_at = time.perf_counter() + seconds
    for _ in range(repeat):
        for name, action in actions.items():
            started = time.perf_counter()
            await action()
            latencies[name].append(time.perf_counter() - started)
        if time.perf_counter() > stop_at:
            break
    return {name: Stats.of(values) for name, values in latencies.items()}


# --- one measurement point -------------------------------------------------------------------


def _new_call_row(tenant: BenchTenant, backend: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    stamp: Any = now if backend == "postgres" else now.replace(tzinfo=None).isoformat(" ")
    return {
        "id": str(uuid.uuid4()),
        "organization_id": tenant.org_id,
        "agent_id": tenant.agent_ids[0],
        "direction": "outbound",
        "status": "queued",
        "phone_number": "+14155550102",
        "from_number": tenant.phone_number,
        "provider_type": "sandbox",
        "variables": "{}",
        "settings": json.dumps({"recording_enabled": False, "transcription_enabled": True}),
        "context": "{}",
        "attempts": 0,
        "not_before": stamp,
        "created_at": stamp,
        "updated_at": stamp,
    }


async def _driver_insert(driver: Driver, tenant: BenchTenant, backend: str) -> None:
    row = _new_call_row(tenant, backend)
    columns = ", ".join(row)
    marks = ", ".join(f"${i}" if backend == "postgres" else "?" for i in range(1, len(row) + 1))
    await driver.execute(f"INSERT INTO calls ({columns}) VALUES ({marks})", list(row.values()))


async def measure(url: str, backend: str, tenant: BenchTenant, workdir: Path) -> dict[str, Any]:
    """Every figure of one (backend, size) point."""
    settings = load_settings(database_url=url, data_dir=workdir / "data", secret_key="bench")
    db = Database(url)
    result: dict[str, Any] = {"cases": []}
    try:
        async with db.read() as conn:
            newest = (
                await conn.execute(
                    # The seeded history (attempts=1), not the calls posted by earlier points.
                    sa.select(sa.func.max(calls.c.created_at)).where(
                        calls.c.organization_id == tenant.org_id, calls.c.attempts == 1
                    )
                )
            ).scalar_one()
        measured = cases(tenant, newest)
        async with Driver(url, backend) as driver:
            for case in measured:
                built = statements(tenant.org_id, case)
                sql = {k: compile_for(s, p, backend) for k, (s, p) in built.items()}
                statement, params = built["page"]

                async def driver_page() -> None:
                    await driver.fetch(*sql["page"])  # noqa: B023 - used within this iteration

                async def voxline_query() -> None:
                    # The statement through Voxline's Database: pool, snapshot read (a
                    # reader thread on SQLite), SQLAlchemy result processing; no mapping.
                    await db.query(statement, params)  # noqa: B023

                async def service() -> None:
                    await call_queries.list_calls(
                        db,
                        settings,
                        tenant.org_id,
                        case.filters,  # noqa: B023
                        limit=PAGE,
                        offset=case.offset,  # noqa: B023
                    )

                # Interleaved, so that the machine's noise falls on baseline and subject alike.
                measured_together = await timed_together(
                    {"driver": driver_page, "query": voxline_query, "service": service},
                    REPEAT,
                    MAX_SECONDS,
                )
                count = await timed(lambda: driver.fetch(*sql["count"]), COUNT_REPEAT, 1.5)  # noqa: B023
                result["cases"].append(
                    {
                        "name": case.name,
                        "path": case.path(),
                        **{k: v.as_dict() for k, v in measured_together.items()},
                        "count": count.as_dict(),
                    }
                )
            insert = await timed(
                lambda: _driver_insert(driver, tenant, backend), DRIVER_REPEAT, MAX_SECONDS / 2
            )
            result["driver_insert"] = insert.as_dict()
    finally:
        await db.dispose()

    async with api_server(url, workdir / "data") as (host, port, _pid):
        client = await HttpClient.connect(host, port)
        try:
            health = await timed_requests(
                client, [("GET", "/healthz", None)] * REPEAT, {}, expect=200, max_seconds=3
            )
            result["http_floor"] = Stats.of(health[10:]).as_dict()
            for case, record in zip(measured, result["cases"], strict=True):
                requests = [("GET", case.path(), None)] * (REPEAT + 10)
                latencies = await timed_requests(
                    client, requests, tenant.headers, expect=200, max_seconds=MAX_SECONDS
                )
                record["http"] = Stats.of(latencies[10:]).as_dict()
            body = {"agent_id": tenant.agent_ids[0], "phone_number": "+14155550102"}
            posts = await timed_requests(
                client,
                [("POST", f"{API}/calls", body)] * (REPEAT + 10),
                tenant.headers,
                expect=201,
                max_seconds=MAX_SECONDS,
            )
            result["post"] = Stats.of(posts[10:]).as_dict()
        finally:
            client.close()
        mixed = [("GET", case.path(), None) for case in measured]
        rate, under_load = await throughput(
            host,
            port,
            mixed,
            tenant.headers,
            expect=200,
            connections=LOAD_CONNECTIONS,
            seconds=LOAD_SECONDS,
        )
        result["get_throughput"] = {"rps": rate, **under_load.as_dict()}
        rate, under_load = await throughput(
            host,
            port,
            [("POST", f"{API}/calls", body)],
            tenant.headers,
            expect=201,
            connections=LOAD_CONNECTIONS,
            seconds=LOAD_SECONDS,
        )
        result["post_throughput"] = {"rps": rate, **under_load.as_dict()}
    for record in result["cases"]:
        record["query_factor"] = ratio(record["query"]["p50_ms"], record["driver"]["p50_ms"])
        record["service_factor"] = ratio(record["service"]["p50_ms"], record["driver"]["p50_ms"])
        record["http_factor"] = ratio(record["http"]["p50_ms"], record["driver"]["p50_ms"])
    result["post_factor"] = ratio(result["post"]["p50_ms"], result["driver_insert"]["p50_ms"])
    return result


async def run(sizes: list[int], backends: list[str], workdir: Path | None = None) -> dict[str, Any]:
    """All points: each backend's database grows from the smallest size to the largest."""
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="voxline-bench-api-")) if workdir is None else workdir
    results: dict[str, Any] = {}
    try:
        for backend in backends:
            results[backend] = await _run_backend(backend, sizes, base / backend)
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
    return results


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _run_backend(backend: str, sizes: list[int], workdir: Path) -> dict[str, Any]:
    points: dict[str, Any] = {}
    if backend == "postgres":
        async with postgres_database("api") as url:
            await _grow_and_measure(url, backend, sizes, workdir, points)
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        try:
            await _grow_and_measure(url, backend, sizes, workdir, points)
        finally:
            _remove_sqlite(workdir / "bench.db")
    return points


async def _grow_and_measure(
    url: str, backend: str, sizes: list[int], workdir: Path, points: dict[str, Any]
) -> None:
    await migrate.upgrade_async(url)
    main = await create_tenant(url, "Bench", phone_number="+14155551000")
    neighbour = await create_tenant(url, "Neighbour", phone_number="+14155551001")
    seeded = 0
    for size in sorted(sizes):
        started = time.perf_counter()
        if backend == "postgres":
            await seed_postgres(url, main, neighbour, seeded, size - seeded)
        else:
            await asyncio.to_thread(seed_sqlite, url, main, neighbour, seeded, size - seeded)
        log(f"{backend}: seeded {size:,} calls in {time.perf_counter() - started:.0f} s")
        seeded = size
        started = time.perf_counter()
        point = await measure(url, backend, main, workdir)
        point["seconds"] = time.perf_counter() - started
        points[str(size)] = point
        log(f"{backend}: measured {size:,} in {point['seconds']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = asyncio.run(run(sizes, args.backends.split(",")))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
