"""The HTTP servers of Voxline's processes: ``voxline serve``'s, which drains before it
stops, and the small operations listener of ``voxline worker``.

uvicorn handles SIGTERM and SIGINT itself, and on its own would close every connection at
once, media WebSockets included (code 1012: live calls cut). :class:`DrainingServer` takes
the first signal instead: readiness fails at once (``GET /readyz`` answers 503), the runtime
drains (:meth:`Runtime.drain`: live calls finish, for up to ``engine_drain_seconds``, while
the server goes on serving their media and webhooks), and only then does uvicorn shut down.
A second signal cuts the drain short: the live calls end ``shutdown`` (recorded, then hung
up) and the server stops; a further SIGINT is uvicorn's forced exit.

:class:`OpsServer` serves ``/healthz``, ``/readyz`` and ``/metrics`` of a worker, which has
no API, on ``VOXLINE_WORKER_OPS_PORT``; the worker's own signal handlers stay in charge.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Generator
from types import FrameType

import uvicorn
from fastapi import FastAPI

from voxline.logging import get_logger, uvicorn_log_config
from voxline.runtime import Runtime

__all__ = ["DrainingServer", "OpsServer", "ops_app"]

log = get_logger("ops.server")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self._signals = 0
        self._drain: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """The first signal drains, then stops; the second cuts the drain short; a third
        SIGINT forces the exit (uvicorn's own)."""
        # Readiness fails at once (a plain flag); the rest runs on the loop, not in the
        # signal handler, which may interrupt the loop anywhere.
        self.runtime.draining = True
        self._signals += 1
        if self._signals > 2 and sig == signal.SIGINT:
            super().handle_exit(sig, frame)
            super().handle_exit(sig, frame)
            return
        loop = self._loop or asyncio.get_running_loop()
        if self._signals == 1:
            # A signal handler runs between any two steps of the loop: schedule, don't act.
            loop.call_soon_threadsafe(self._start_drain, sig, frame)
        else:
            loop.call_soon_threadsafe(self.runtime.cut_drain_short)

    def _start_drain(self, sig: int, frame: FrameType | None) -> None:
        self._drain = asyncio.get_running_loop().create_task(
            self._drain_then_exit(sig, frame), name="voxline-drain"
        )

    async def _drain_then_exit(self, sig: int, frame: FrameType | None) -> None:
        try:
            outcome = await self.runtime.drain()
            log.info(
                "drained",
                extra={"finished": outcome.finished, "ended": len(outcome.ended)},
            )
        except Exception:
            log.exception("draining failed")
        finally:
            super().handle_exit(sig, frame)


class OpsServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process that runs it handles signals, and
    stops it by setting ``should_exit``."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def ops_app(runtime: Runtime) -> FastAPI:
    """An app with only the operator's endpoints of ``runtime`` (see :mod:`voxline.api.ops`)."""
    from voxline.api.ops import router

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.include_router(router)
    return app


def ops_server(runtime: Runtime, host: str, port: int, log_level: str) -> OpsServer:
    """The operations listener of a worker on ``host:port``."""
    config = uvicorn.Config(
        ops_app(runtime),
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=uvicorn_log_config(),
        lifespan="off",
    )
    return OpsServer(config)
