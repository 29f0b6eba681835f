"""Batch calls: a 100,000-contact batch on PostgreSQL in text sandbox mode.

- **Import**: 100,000 contacts are seeded into a folder with ``COPY`` (not measured), then
  ``POST /batch-calls`` with ``contact_folder_id`` copies them into the batch (measured: the
  request's time, which validates and copies every contact in one transaction).
- **Scheduler cost per contact**: in this process, :func:`voxline.services.batch_runs.place_due`
  runs rounds against the 100k batch (each round queues up to a page of contacts; between
  rounds, outside the timing, the contacts it queued are marked done so the next round has
  room). Time per contact queued, and this process's memory before and after.
- **Dial rate**: one ``voxline worker`` runs the batch (callees are talkers on unique numbers,
  so every call is a short text conversation) for :data:`RUN_SECONDS`; contacts dialed per
  second from the sandbox's placements log, and the worker's memory.
- **API calls beside the batch**: the same organization posts ``POST /calls`` (to a number that
  never answers) at a steady pace to ``voxline serve --no-engine``, first with no batch
  running, then while the batch runs; the response time and the time from the POST to the
  provider request (the placements log), each as a ratio to the no-batch run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from bench.common import (
    HttpClient,
    Stats,
    api_server,
    asyncpg_dsn,
    cpu_seconds,
    log,
    postgres_database,
    process,
    ratio,
    rss_mib,
    voxline_env,
)
from bench.dispatch import following
from bench.seed import BenchTenant, create_tenant
from voxline.config import Settings
from voxline.services import batch_runs, contacts
from voxline.storage import migrate
from voxline.storage.db import Database
from voxline.storage.tables import batch_calls, batch_contacts, phone_numbers
from voxline.storage.types import utcnow

API = "/api/public/v1"
CONTACTS = 100_000
NEVER_ANSWERS = "+14155550102"
SCHEDULER_ROUNDS = 40
RUN_SECONDS = 45.0
API_CALLS = 60
API_PACE_PER_SECOND = 4.0
ENV = {
    "VOXLINE_SANDBOX_MODE": "text",
    "VOXLINE_SANDBOX_TIME_SCALE": "0.02",
    "VOXLINE_ENGINE_POLL_SECONDS": "0.25",
    "VOXLINE_ENGINE_DRAIN_SECONDS": "0",
    "VOXLINE_ENGINE_LEASE_SECONDS": "60",
}


def unique_talker(index: int) -> str:
    """Distinct numbers outside the sandbox's 555-01xx personas: each answers as a talker."""
    return f"+1{300 + index // 10_000}{2_000_000 + index % 10_000}"


async def call_lengths(url: str) -> dict[str, float]:
    """How long the batch's ended calls lasted (creation to end) and how many are live."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await connection.fetchrow(
            "SELECT avg(extract(epoch FROM ended_at - created_at)) AS seconds,"
            " count(*) FILTER (WHERE ended_at IS NULL) AS live"
            " FROM calls WHERE batch_contact_id IS NOT NULL"
        )
    finally:
        await connection.close()
    return {"mean_call_seconds": float(row["seconds"] or 0), "live_at_end": int(row["live"])}


async def seed_folder(url: str, tenant: BenchTenant) -> str:
    db = Database(url)
    try:
        folder = await contacts.create_folder(db, tenant.org_id, "Bench", None)
        now = utcnow()
        async with db.write() as conn:
            for extra in range(4):  # a pool of four caller IDs, and one for the second agent
                await conn.execute(
                    phone_numbers.insert().values(
                        id=str(uuid.uuid4()),
                        organization_id=tenant.org_id,
                        phone_number=f"+1415555200{extra}",
                        provider_type="sandbox",
                        status="active",
                        is_managed=True,
                        outbound_agent_id=tenant.agent_ids[0 if extra < 3 else 1],
                        created_at=now,
                        updated_at=now,
                    )
                )
    finally:
        await db.dispose()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.copy_records_to_table(
            "contacts",
            columns=[
                "id",
                "organization_id",
                "folder_id",
                "phone_number",
                "custom_fields",
                "call_count",
                "created_at",
                "updated_at",
            ],
            records=[
                (str(uuid.uuid4()), tenant.org_id, folder.id, unique_talker(i), "{}", 0, now, now)
                for i in range(CONTACTS)
            ],
        )
        await connection.execute("ANALYZE contacts")
    finally:
        await connection.close()
    return folder.id


async def create_batch(
    host: str, port: int, tenant: BenchTenant, folder_id: str, name: str
) -> tuple[str, float]:
    client = await HttpClient.connect(host, port)
    try:
        body = {
            "name": name,
            "agent_id": tenant.agent_ids[0],
            "contact_source": "folder",
            "contact_folder_id": folder_id,
            "working_days": [1, 2, 3, 4, 5, 6, 7],
            "max_concurrent_calls": 100,
            "calls_per_second": 50,
            "phone_rotation_strategy": "round_robin",
        }
        started = time.perf_counter()
        status, text = await client.request(
            "POST", f"{API}/batch-calls", headers=tenant.headers, body=body, limit_seconds=600
        )
        elapsed = time.perf_counter() - started
        if status != 201:
            raise RuntimeError(f"POST /batch-calls answered {status}: {text[:300]!r}")
        return str(json.loads(text)["data"]["id"]), elapsed
    finally:
        client.close()


async def post(host: str, port: int, tenant: BenchTenant, path: str) -> dict[str, Any]:
    client = await HttpClient.connect(host, port)
    try:
        status, text = await client.request("POST", path, headers=tenant.headers, body={})
        if status not in (200, 201):
            raise RuntimeError(f"POST {path} answered {status}: {text[:300]!r}")
        data: dict[str, Any] = json.loads(text)["data"]
        return data
    finally:
        client.close()


async def scheduler_cost(url: str, batch_id: str) -> dict[str, Any]:
    """Rounds of ``place_due`` on the 100k batch in this process (see the module doc)."""
    db = Database(url)
    settings = Settings(database_url=url, secret_key="bench-secret-key")
    before = rss_mib_self()
    original = batch_runs.QUEUED_PER_BATCH
    batch_runs.QUEUED_PER_BATCH = batch_runs.PAGE  # let each round fill a page
    spent = 0.0
    queued = 0
    try:
        async with db.write() as conn:
            await conn.execute(
                batch_calls.update()
                .where(batch_calls.c.id == batch_id)
                .values(status="active", scheduled_at=utcnow(), calls_per_second=50.0)
            )
        for _ in range(SCHEDULER_ROUNDS):
            started = time.perf_counter()
            async with db.write() as conn:
                result = await batch_runs.place_due(conn, settings, batch_id, utcnow())
            spent += time.perf_counter() - started
            queued += result.placed
            async with db.write() as conn:
                await conn.execute(
                    batch_contacts.update()
                    .where(
                        batch_contacts.c.batch_id == batch_id, batch_contacts.c.status == "calling"
                    )
                    .values(status="completed")
                )
                await conn.execute(sa.text("DELETE FROM calls WHERE batch_contact_id IS NOT NULL"))
        async with db.write() as conn:  # out of the way of the run that follows
            await conn.execute(
                batch_calls.update().where(batch_calls.c.id == batch_id).values(status="cancelled")
            )
    finally:
        batch_runs.QUEUED_PER_BATCH = original
        await db.dispose()
    return {
        "rounds": SCHEDULER_ROUNDS,
        "contacts_queued": queued,
        "ms_per_contact": spent * 1000 / max(queued, 1),
        "ms_per_round": spent * 1000 / SCHEDULER_ROUNDS,
        "bench_rss_mib_before": before,
        "bench_rss_mib_after": rss_mib_self(),
    }


def rss_mib_self() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def paced_calls(
    host: str, port: int, tenant: BenchTenant, agent: int
) -> tuple[dict[str, float], list[float]]:
    """``API_CALLS`` POST /calls at a steady pace: the ids with their send time, and the
    response times."""
    client = await HttpClient.connect(host, port)
    sent: dict[str, float] = {}
    responses: list[float] = []
    body = {"agent_id": tenant.agent_ids[agent], "phone_number": NEVER_ANSWERS}
    start = time.perf_counter()
    try:
        for index in range(API_CALLS):
            await asyncio.sleep(max(0.0, start + index / API_PACE_PER_SECOND - time.perf_counter()))
            at = time.perf_counter()
            status, text = await client.request(
                "POST", f"{API}/calls", headers=tenant.headers, body=body
            )
            responses.append(time.perf_counter() - at)
            if status != 201:
                raise RuntimeError(f"POST /calls answered {status}: {text[:300]!r}")
            sent[json.loads(text)["data"]["id"]] = at
    finally:
        client.close()
    return sent, responses


async def api_latency(
    host: str, port: int, tenant: BenchTenant, placements_path: Path, agent: int
) -> dict[str, Any]:
    async with following(placements_path) as placements:
        sent, responses = await paced_calls(host, port, tenant, agent)
        await asyncio.sleep(2.0)
    dials = [placements.seen[i] - at for i, at in sent.items() if i in placements.seen]
    return {
        "response": Stats.of(responses).as_dict(),
        "post_to_dial": Stats.of(dials).as_dict(),
        "dialed": len(dials),
        "sent": len(sent),
    }


async def run(workdir: Path | None = None, api_agent: int = 0) -> dict[str, Any]:
    """``api_agent`` 0: the API calls use the batch's agent; 1: another agent of the same
    organization."""
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="voxline-bench-batches-")) if workdir is None else workdir
    results: dict[str, Any] = {"contacts": CONTACTS, "api_agent": api_agent}
    try:
        async with postgres_database("batches") as url:
            await migrate.upgrade_async(url)
            tenant = await create_tenant(url, "Batches", phone_number="+14155551000")
            folder_id = await seed_folder(url, tenant)
            data_dir = base / "data"
            async with api_server(url, data_dir, **ENV) as (host, port, _api_pid):
                cost_batch, _ = await create_batch(host, port, tenant, folder_id, "Scheduler")
                results["scheduler"] = await scheduler_cost(url, cost_batch)
                log(f"batches: scheduler {results['scheduler']['ms_per_contact']:.2f} ms/contact")
                batch_id, seconds = await create_batch(host, port, tenant, folder_id, "Run")
                results["import"] = {"seconds": seconds, "contacts_per_second": CONTACTS / seconds}
                log(f"batches: import of {CONTACTS} contacts {seconds:.1f} s")
                env = voxline_env(url, data_dir, **ENV)
                placements_path = data_dir / "sandbox" / "placements.log"
                with process(
                    ["-m", "voxline", "worker"], env, log_file=data_dir / "worker.log"
                ) as pid:
                    await asyncio.sleep(3.0)
                    results["api_alone"] = await api_latency(
                        host, port, tenant, placements_path, api_agent
                    )
                    alone = results["api_alone"]["response"]["p50_ms"]
                    log(f"batches: POST /calls alone p50 {alone:.1f} ms")
                    rss_before = rss_mib(pid)
                    cpu_before = cpu_seconds(pid)
                    async with following(placements_path) as placements:
                        already = set(placements.seen)
                        await post(host, port, tenant, f"{API}/batch-calls/{batch_id}/schedule")
                        started = time.perf_counter()
                        during = await api_latency(host, port, tenant, placements_path, api_agent)
                        await asyncio.sleep(max(0.0, started + RUN_SECONDS - time.perf_counter()))
                        elapsed = time.perf_counter() - started
                        dialed = len(set(placements.seen) - already) - during["dialed"]
                    cpu = cpu_seconds(pid) - cpu_before
                    results["calls"] = await call_lengths(url)
                    results["api_with_batch"] = during
                    results["run"] = {
                        "seconds": elapsed,
                        "contacts_dialed": dialed,
                        "contacts_per_second": dialed / elapsed,
                        "worker_cpu_ms_per_contact": cpu * 1000 / max(dialed, 1),
                        "worker_rss_mib_before": rss_before,
                        "worker_rss_mib_after": rss_mib(pid),
                    }
                    log(f"batches: {dialed / elapsed:.1f} contacts dialed/s")
                    await post(host, port, tenant, f"{API}/batch-calls/{batch_id}/cancel")
            for key in ("response", "post_to_dial"):
                results[f"{key}_ratio"] = {
                    stat: ratio(
                        results["api_with_batch"][key][stat], results["api_alone"][key][stat]
                    )
                    for stat in ("p50_ms", "p99_ms")
                }
        return results
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--api-agent", type=int, choices=(0, 1), default=0, help="1: API calls use another agent"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(api_agent=args.api_agent)), indent=2))


if __name__ == "__main__":
    main()
