"""Webhooks: how soon a call's ``call.ended`` reaches a local receiver, how many events one
engine delivers per second, and that a dead receiver leaves the dispatch rate as it was.

A single-node ``voxline serve`` (SQLite, engine in the process, sandbox in text mode) sends to
a receiver in this process: a minimal HTTP/1.1 server on a loopback port that answers 204 and
timestamps each request.

- **Delay**: calls to ``+1 415 555 0105`` (hangs up at once) are posted at a steady pace;
  the delay of each is the receipt time of its ``call.ended`` minus the call's ``ended_at``
  (one clock: same machine). Baseline, same run: ``finalized_at - ended_at`` of the same
  calls, when duration, cost and summary were written: the earliest moment anyone, polling or
  not, could learn of the end with its cost.
- **Rate**: a backlog of ``webhook.test`` events is written straight into the database before
  the server starts; the rate is receipts per second from the first to the last. Baseline:
  plain unsigned POSTs of a body of the same size from this process to the same receiver at
  the same concurrency (``VOXLINE_WEBHOOKS_CONCURRENCY_PER_ENDPOINT``).
- **Dead receiver**: on PostgreSQL, one ``voxline worker`` drains a backlog of queued calls
  (as in ``bench/dispatch.py``) while the organization's webhook endpoint, subscribed to every
  call event, accepts connections and never answers, so every delivery waits out its
  timeout. Baseline, same run: the same backlog with a healthy endpoint (the same events and
  deliveries written, answered at once); with no endpoint for reference. They alternate twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import dispatch
from bench.common import HttpClient, Stats, api_server, log, process, ratio, voxline_env
from bench.seed import create_tenant
from voxline.config import load_settings
from voxline.services import webhooks
from voxline.storage import events as outbox
from voxline.storage import migrate
from voxline.storage.db import Database
from voxline.storage.tables import calls

API = "/api/public/v1"
HANGS_UP = "+14155550105"
CALLS = 60
PACE_PER_SECOND = 5.0
BACKLOG = 1500
DISPATCH_BACKLOG = 1500
CONCURRENCY = 4
SERVER_ENV = {
    "VOXLINE_SANDBOX_MODE": "text",
    "VOXLINE_SANDBOX_TIME_SCALE": "0.05",
    "VOXLINE_ENGINE_DRAIN_SECONDS": "0",
    "VOXLINE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
    "VOXLINE_WEBHOOKS_CONCURRENCY_PER_ENDPOINT": str(CONCURRENCY),
}


class Receiver:
    """A minimal HTTP/1.1 receiver: 204 to every request, ``(time.time(), body)`` kept."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.received.append((time.time(), json.loads(body)))
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    async def stop(self) -> None:
        for writer in list(self._open):
            writer.close()  # idle keep-alive connections end their handlers
        await asyncio.sleep(0.05)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _wait(predicate: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for deliveries")
        await asyncio.sleep(0.01)


async def _endpoint(url: str, org_id: str, receiver_url: str) -> None:
    db = Database(url)
    settings = load_settings(
        database_url=url, secret_key="bench-secret-key", webhooks_allow_private_networks=True
    )
    try:
        await webhooks.create_endpoint(
            db, settings, org_id, url=receiver_url, event_types=["call.ended"]
        )
    finally:
        await db.dispose()


async def delay_part(root: Path) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{root / 'delay.db'}"
    await migrate.upgrade_async(url)
    tenant = await create_tenant(url, "Hooks", phone_number="+14155551000")
    receiver = Receiver()
    await _endpoint(url, tenant.org_id, await receiver.start())
    ids: list[str] = []
    try:
        async with api_server(url, root / "delay-data", engine=True, **SERVER_ENV) as (
            host,
            port,
            _,
        ):
            client = await HttpClient.connect(host, port)
            try:
                for _ in range(CALLS):
                    status, body = await client.request(
                        "POST",
                        f"{API}/calls",
                        headers=tenant.headers,
                        body={"agent_id": tenant.agent_ids[0], "phone_number": HANGS_UP},
                    )
                    if status != 201:
                        raise RuntimeError(f"POST /calls answered {status}: {body[:200]!r}")
                    ids.append(json.loads(body)["data"]["id"])
                    await asyncio.sleep(1 / PACE_PER_SECOND)
            finally:
                client.close()
            await _wait(lambda: len(receiver.received) >= CALLS, within=120)
    finally:
        await receiver.stop()
    arrived = {body["data"]["call"]["id"]: at for at, body in receiver.received}
    db = Database(url)
    try:
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(calls.c.id, calls.c.ended_at, calls.c.finalized_at).where(
                        calls.c.id.in_(ids)
                    )
                )
            ).all()
    finally:
        await db.dispose()
    ended: dict[str, datetime] = {r.id: r.ended_at for r in rows}
    delays = [arrived[i] - ended[i].timestamp() for i in ids]
    finalized = [(r.finalized_at - r.ended_at).total_seconds() for r in rows]
    webhook, baseline = Stats.of(delays), Stats.of(finalized)
    return {
        "call_end_to_call_ended": webhook.as_dict(),
        "baseline_call_end_to_finalized": baseline.as_dict(),
        "ratio_p50": ratio(webhook.p50, baseline.p50),
    }


async def rate_part(root: Path) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{root / 'rate.db'}"
    await migrate.upgrade_async(url)
    tenant = await create_tenant(url, "Hooks", phone_number="+14155551000")
    receiver = Receiver()
    receiver_url = await receiver.start()
    db = Database(url)
    settings = load_settings(
        database_url=url, secret_key="bench-secret-key", webhooks_allow_private_networks=True
    )
    try:
        endpoint, _ = await webhooks.create_endpoint(
            db, settings, tenant.org_id, url=receiver_url, event_types=["call.ended"]
        )
        async with db.write() as conn:
            for _ in range(BACKLOG):
                await outbox.append(
                    conn,
                    organization_id=tenant.org_id,
                    event_type="webhook.test",
                    payload={"webhook_id": endpoint.id, "message": "bench"},
                    only_endpoint_id=endpoint.id,
                )
    finally:
        await db.dispose()
    try:
        async with api_server(url, root / "rate-data", engine=True, **SERVER_ENV):
            await _wait(lambda: len(receiver.received) >= BACKLOG, within=300)
        times = sorted(at for at, _ in receiver.received)
        engine_rate = (len(times) - 1) / (times[-1] - times[0])
        body = json.dumps(receiver.received[0][1]).encode()
        receiver.received.clear()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=CONCURRENCY)) as http:
            queue = list(range(BACKLOG))

            async def post() -> None:
                while queue:
                    queue.pop()
                    await http.post(receiver_url, content=body)

            started = time.perf_counter()
            await asyncio.gather(*(post() for _ in range(CONCURRENCY)))
            baseline_rate = BACKLOG / (time.perf_counter() - started)
    finally:
        await receiver.stop()
    return {
        "events_per_second_one_engine": engine_rate,
        "baseline_plain_posts_per_second": baseline_rate,
        "ratio": ratio(engine_rate, baseline_rate),
    }


class BlackHole:
    """A receiver that accepts connections and never answers: every delivery to it waits
    out the delivery timeout, the worst a dead endpoint can do."""

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._held.append(writer)

        self._server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"

    async def stop(self) -> None:
        for writer in self._held:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def _dispatch_rate(workdir: Path, label: str, dead_receiver: str | None) -> float:
    """Placements per second of one ``voxline worker`` draining a backlog on PostgreSQL;
    with ``dead_receiver``, the organization's webhook endpoint for every call event is it,
    so each call's ringing fans out a delivery that hangs until its timeout."""
    async with dispatch.deployment(label, workdir) as (url, tenant, data_dir):
        if dead_receiver is not None:
            db = Database(url)
            settings = load_settings(
                database_url=url,
                secret_key="bench-secret-key",
                webhooks_allow_private_networks=True,
            )
            try:
                await webhooks.create_endpoint(
                    db,
                    settings,
                    tenant.org_id,
                    url=dead_receiver,
                    event_types=["call.queued", "call.ringing", "call.started", "call.ended"],
                )
            finally:
                await db.dispose()
        due = datetime.now(UTC) + timedelta(seconds=6)
        await dispatch.insert_backlog(url, tenant, DISPATCH_BACKLOG, due)
        env = voxline_env(
            url, data_dir, **dispatch.WORKER_ENV, VOXLINE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS="true"
        )
        async with dispatch.following(data_dir / "sandbox" / "placements.log") as placements:
            with process(["-m", "voxline", "worker"], env, log_file=data_dir / "worker.log"):
                await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
                await _wait(lambda: len(placements.seen) >= DISPATCH_BACKLOG, within=120)
    times = sorted(placements.seen.values())
    return (len(times) - 1) / (times[-1] - times[0])


async def dead_receiver_part(root: Path) -> dict[str, Any]:
    """Dispatch with a dead endpoint against dispatch with a healthy one (the same events and
    deliveries written, answered at once), and with none for reference, alternated twice so
    the machine's noise falls on all alike."""
    hole = BlackHole()
    dead_url = await hole.start()
    receiver = Receiver()
    healthy_url = await receiver.start()
    rates: dict[str, list[float]] = {"none": [], "healthy": [], "dead": []}
    try:
        for turn in range(2):
            for kind, url in (("none", None), ("healthy", healthy_url), ("dead", dead_url)):
                rates[kind].append(await _dispatch_rate(root, f"{kind}{turn}", url))
    finally:
        await hole.stop()
        await receiver.stop()
    return {
        "calls_per_second_without_endpoint": rates["none"],
        "calls_per_second_with_healthy_endpoint": rates["healthy"],
        "calls_per_second_with_dead_endpoint": rates["dead"],
        "ratio_dead_to_healthy": ratio(max(rates["dead"]), max(rates["healthy"])),
        "ratio_healthy_to_none": ratio(max(rates["healthy"]), max(rates["none"])),
    }


async def run() -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="voxline-bench-hooks-"))
    try:
        log("webhooks: delay from a call's end to its call.ended")
        delay = await delay_part(root)
        log(f"  {delay}")
        log("webhooks: events per second one engine delivers")
        rate = await rate_part(root)
        log(f"  {rate}")
        log("webhooks: dispatch rate with a dead receiver")
        dead = await dead_receiver_part(root)
        log(f"  {dead}")
        return {"delay": delay, "rate": rate, "dead_receiver": dead}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0]).parse_args()
    print(json.dumps(asyncio.run(run()), indent=2))


if __name__ == "__main__":
    main()
