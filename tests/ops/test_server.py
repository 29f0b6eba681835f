"""``voxline serve``'s server: the shutdown signal marks the runtime draining first, and the
server stops only once the live calls are drained; a worker's operations listener."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Sequence

import httpx
import uvicorn

from tests.factories import app_for
from voxline.config import Settings
from voxline.engine.drain import Drain
from voxline.ops.server import DrainingServer, ops_app
from voxline.runtime import Runtime
from voxline.storage.db import Database


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polls a flag uvicorn sets
            await asyncio.sleep(0.01)


async def test_sigterm_drains_the_runtime_before_uvicorn_stops(
    settings: Settings, db: Database
) -> None:
    app = app_for(settings, db=db)
    runtime: Runtime = app.state.runtime
    server = DrainingServer(uvicorn.Config(app), runtime)
    assert not runtime.draining and not server.should_exit
    assert (await runtime.readiness()).ready

    server.handle_exit(signal.SIGTERM, None)

    assert runtime.draining
    readiness = await runtime.readiness()
    assert not readiness.ready
    assert readiness.checks["draining"] == "shutting down"
    # Nothing is live: the drain ends at once and uvicorn stops.
    await _until(lambda: server.should_exit)


async def test_the_server_stops_only_once_a_live_call_is_drained_or_cut_short(
    settings: Settings, db: Database
) -> None:
    app = app_for(settings, db=db)
    runtime: Runtime = app.state.runtime
    live = {"call-1"}
    ended: list[Sequence[str]] = []

    async def end(call_ids: Sequence[str]) -> None:
        ended.append(call_ids)
        live.clear()

    # A call that would go on for the hour the drain allows.
    runtime.drainer = Drain(3600, lambda: set(live), end)
    server = DrainingServer(uvicorn.Config(app), runtime)

    server.handle_exit(signal.SIGTERM, None)
    await asyncio.sleep(0.3)
    # The call goes on (the limit is an hour): the server keeps serving it.
    assert runtime.draining and not server.should_exit and ended == []

    server.handle_exit(signal.SIGTERM, None)
    await _until(lambda: server.should_exit)
    assert ended == [["call-1"]]
    assert not server.force_exit


async def test_a_workers_ops_app_answers_health_readiness_and_metrics(
    settings: Settings, db: Database
) -> None:
    app = app_for(settings, db=db)
    runtime: Runtime = app.state.runtime
    ops = ops_app(runtime)
    transport = httpx.ASGITransport(app=ops)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as http:
        assert (await http.get("/readyz")).status_code == 200
        runtime.begin_draining()
        draining = await http.get("/readyz")
        assert draining.status_code == 503
        assert draining.json()["checks"]["draining"] == "shutting down"
        assert (await http.get("/healthz")).status_code == 200
        assert "voxline_" in (await http.get("/metrics")).text
        # Only the operator's endpoints: no API on a worker.
        assert (await http.get("/v1/calls")).status_code == 404
