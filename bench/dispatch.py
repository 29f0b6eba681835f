"""Dispatch: calls placed per second by one and by two ``voxline worker`` processes against the
sandbox carrier, and the time from ``POST /calls`` to the provider request.

The sandbox appends each call id to ``<data dir>/sandbox/placements.log`` (with an fsync)
when it accepts a placement, exactly where a real carrier would receive the HTTP request.
This process tails that file every millisecond and timestamps each new line: that instant
is "the provider request".

- **Rate**: a backlog of queued calls is written straight into a fresh PostgreSQL database,
  due a few seconds after the workers start; the rate is placements per second from the
  first placement to the last. Baseline, same run: a minimal dispatcher written directly on
  asyncpg (claim a batch with ``FOR UPDATE SKIP LOCKED``, append and fsync the placement
  log, one commit per placed call) on an equal backlog.
- **Latency**: calls are posted at a steady pace to ``voxline serve --no-engine`` while the
  workers listen (PostgreSQL ``NOTIFY``); also single-node ``voxline serve`` (the API
  process dials during the request). Baseline: the ``POST /calls`` response time itself.

Callees never answer (``+1 415 555 0102``), so after dialing a call costs only its
"ringing" event and the measurement is of dispatch, not of conversations.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

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
    voxline_env,
)
from bench.seed import BenchTenant, create_tenant
from voxline.storage import migrate

API = "/api/public/v1"
NEVER_ANSWERS = "+14155550102"
BACKLOG = 2000
PACED_CALLS = 150
PACE_PER_SECOND = 25.0
WORKER_ENV = {
    "VOXLINE_SANDBOX_MODE": "text",
    "VOXLINE_ENGINE_POLL_SECONDS": "0.25",
    "VOXLINE_ENGINE_DRAIN_SECONDS": "0",
    "VOXLINE_ENGINE_LEASE_SECONDS": "60",
}


class PlacementLog:
    """Timestamps (``time.perf_counter``) of the call ids appended to a placements log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: dict[str, float] = {}
        self._offset = 0
        self._partial = b""

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        if not chunk:
            return
        now = time.perf_counter()
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self.seen.setdefault(line.decode(), now)

    async def follow(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.poll()
            await asyncio.sleep(0.001)


@contextlib.asynccontextmanager
async def following(path: Path) -> AsyncIterator[PlacementLog]:
    placements = PlacementLog(path)
    stop = asyncio.Event()
    task = asyncio.create_task(placements.follow(stop))
    try:
        yield placements
    finally:
        stop.set()
        await task


@contextlib.contextmanager
def workers(count: int, url: str, data_dir: Path) -> Iterator[list[int]]:
    env = voxline_env(url, data_dir, **WORKER_ENV)
    with contextlib.ExitStack() as stack:
        pids = [
            stack.enter_context(
                process(["-m", "voxline", "worker"], env, log_file=data_dir / f"worker-{i}.log")
            )
            for i in range(count)
        ]
        yield pids


async def insert_backlog(
    url: str, tenant: BenchTenant, count: int, due: datetime, to_number: str = NEVER_ANSWERS
) -> None:
    """``count`` queued calls to ``to_number`` due at ``due``, written with ``COPY``."""
    settings = json.dumps(
        {
            "recording_enabled": False,
            "transcription_enabled": True,
            "greeting": None,
            "max_duration_seconds": 3600.0,
            "join_timeout_seconds": 30.0,
        }
    )
    rows = [
        (
            str(uuid.uuid4()),
            tenant.org_id,
            tenant.agent_ids[0],
            "outbound",
            "queued",
            to_number,
            tenant.phone_number,
            "sandbox",
            "{}",
            settings,
            "{}",
            0,
            due,
            due + timedelta(microseconds=i),
            due,
        )
        for i in range(count)
    ]
    columns = [
        "id",
        "organization_id",
        "agent_id",
        "direction",
        "status",
        "phone_number",
        "from_number",
        "provider_type",
        "variables",
        "settings",
        "context",
        "attempts",
        "not_before",
        "created_at",
        "updated_at",
    ]
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.copy_records_to_table("calls", records=rows, columns=columns)
    finally:
        await connection.close()


async def _wait_for(placements: PlacementLog, count: int, within: float) -> None:
    deadline = time.perf_counter() + within
    while len(placements.seen) < count and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def deployment(label: str, workdir: Path) -> AsyncIterator[tuple[str, BenchTenant, Path]]:
    """A fresh database with a tenant, and a data dir shared by the processes under test."""
    async with postgres_database(label) as url:
        await migrate.upgrade_async(url)
        tenant = await create_tenant(url, "Dispatch", phone_number="+14155551000")
        data_dir = workdir / label
        data_dir.mkdir(parents=True, exist_ok=True)
        yield url, tenant, data_dir


async def placement_rate(worker_count: int, workdir: Path) -> dict[str, Any]:
    """Placements per second of ``worker_count`` workers draining a backlog."""
    async with deployment(f"rate{worker_count}", workdir) as (url, tenant, data_dir):
        due = datetime.now(UTC) + timedelta(seconds=6)
        await insert_backlog(url, tenant, BACKLOG, due)
        log_path = data_dir / "sandbox" / "placements.log"
        async with following(log_path) as placements:
            with workers(worker_count, url, data_dir) as pids:
                await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
                cpu_before = sum(cpu_seconds(pid) for pid in pids)
                await _wait_for(placements, BACKLOG, within=90)
                cpu_used = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    times = sorted(placements.seen.values())
    if len(times) < 2:
        raise RuntimeError("the workers placed no calls; see worker logs in the data dir")
    rate = (len(times) - 1) / (times[-1] - times[0])
    return {
        "workers": worker_count,
        "placed": len(times),
        "calls_per_second": rate,
        "cpu_ms_per_call": cpu_used * 1000 / len(times),
    }


async def minimal_dispatcher_rate(workdir: Path) -> dict[str, Any]:
    """The baseline: the same protocol with nothing but asyncpg, in one process."""
    async with deployment("minimal", workdir) as (url, tenant, data_dir):
        await insert_backlog(url, tenant, BACKLOG, datetime.now(UTC))
        connection = await asyncpg.connect(asyncpg_dsn(url))
        log_path = data_dir / "placements.log"
        placed = 0
        started = time.perf_counter()
        try:
            while placed < BACKLOG and time.perf_counter() - started < 90:
                async with connection.transaction():
                    rows = await connection.fetch(
                        "UPDATE calls SET placement_state = 'dialing', attempts = attempts + 1"
                        " WHERE id IN (SELECT id FROM calls WHERE organization_id = $1"
                        " AND status = 'queued' AND placement_state IS NULL"
                        " ORDER BY created_at, id LIMIT 50 FOR UPDATE SKIP LOCKED)"
                        " RETURNING id",
                        tenant.org_id,
                    )
                for row in rows:
                    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                    try:
                        os.write(fd, f"{row['id']}\n".encode())
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    await connection.execute(
                        "UPDATE calls SET placement_state = 'placed', provider_call_id = $2"
                        " WHERE id = $1",
                        row["id"],
                        f"SBX{uuid.uuid4().hex}",
                    )
                    placed += 1
        finally:
            await connection.close()
        elapsed = time.perf_counter() - started
    return {"placed": placed, "calls_per_second": placed / elapsed}


async def post_to_dial(worker_count: int, workdir: Path) -> dict[str, Any]:
    """Latency from sending ``POST /calls`` to the provider request, at a steady pace.

    ``worker_count`` 0 means single-node ``voxline serve``: the API process dials itself.
    """
    label = f"latency{worker_count}"
    async with deployment(label, workdir) as (url, tenant, data_dir):
        log_path = data_dir / "sandbox" / "placements.log"
        env = dict(WORKER_ENV)
        async with following(log_path) as placements:
            with workers(worker_count, url, data_dir):
                async with api_server(url, data_dir, engine=worker_count == 0, **env) as server:
                    host, port, _pid = server
                    sent, posts = await _paced_posts(host, port, tenant)
                    await _wait_for(placements, len(sent), within=30)
    delays = [placements.seen[cid] - at for cid, at in sent.items() if cid in placements.seen]
    dial = Stats.of(delays)
    post = Stats.of(posts)
    return {
        "workers": worker_count,
        "calls": len(sent),
        "dialed": len(delays),
        "post_to_dial": dial.as_dict(),
        "post_response": post.as_dict(),
        "factor": ratio(dial.p50, post.p50),
    }


async def _paced_posts(
    host: str, port: int, tenant: BenchTenant
) -> tuple[dict[str, float], list[float]]:
    """Post ``PACED_CALLS`` calls at ``PACE_PER_SECOND``; when each was sent, and how long
    each response took."""
    client = await HttpClient.connect(host, port)
    sent: dict[str, float] = {}
    responses: list[float] = []
    body = {"agent_id": tenant.agent_ids[0], "phone_number": NEVER_ANSWERS}
    try:
        start = time.perf_counter()
        for index in range(PACED_CALLS):
            await asyncio.sleep(max(0.0, start + index / PACE_PER_SECOND - time.perf_counter()))
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


async def run(workdir: Path | None = None) -> dict[str, Any]:
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="voxline-bench-dispatch-")) if workdir is None else workdir
    try:
        results: dict[str, Any] = {"backlog": BACKLOG}
        results["minimal"] = await minimal_dispatcher_rate(base)
        log(f"dispatch: minimal dispatcher {results['minimal']['calls_per_second']:.0f}/s")
        for count in (1, 2):
            rate = await placement_rate(count, base)
            rate["factor"] = ratio(rate["calls_per_second"], results["minimal"]["calls_per_second"])
            results[f"rate_{count}"] = rate
            log(f"dispatch: {count} worker(s) {rate['calls_per_second']:.0f} calls/s")
        for count in (0, 1, 2):
            latency = await post_to_dial(count, base)
            results[f"latency_{count}"] = latency
            log(f"dispatch: POST to dial p50 {latency['post_to_dial']['p50_ms']:.1f} ms ({count})")
        return results
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
