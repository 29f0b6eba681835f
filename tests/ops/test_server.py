"""``voxline serve``'s server: the shutdown signal marks the runtime draining first."""

from __future__ import annotations

import signal

import uvicorn

from tests.factories import app_for
from voxline.config import Settings
from voxline.ops.server import DrainingServer
from voxline.runtime import Runtime
from voxline.storage.db import Database


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
    assert server.should_exit
    readiness = await runtime.readiness()
    assert not readiness.ready
    assert readiness.checks["draining"] == "shutting down"
