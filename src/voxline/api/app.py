"""The application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from voxline import __version__
from voxline.api.body_limit import BodyLimitMiddleware
from voxline.api.errors import install_error_handlers
from voxline.api.middleware import RequestContextMiddleware
from voxline.api.providers import plivo, telnyx, twilio
from voxline.api.routes import agents, calls, recordings, telephony, voices
from voxline.config import Settings
from voxline.engine.runner import Engine, notify_dispatch
from voxline.errors import ProviderError
from voxline.services.rate_limit import create_rate_limiter
from voxline.storage.db import Database, create_database

API_PREFIX = "/api/public/v1"


def create_app(
    settings: Settings,
    db: Database | None = None,
    *,
    run_engine: bool = False,
    engine: Engine | None = None,
) -> FastAPI:
    """Build the ASGI app.

    A ``db`` passed in is shared and left open; otherwise the app opens one from ``settings``
    and closes it at shutdown. ``run_engine`` runs the call engine inside this process for
    the app's lifetime (``voxline serve``); API-only nodes (``--no-engine``) leave it to
    workers and wake them through the database. An ``engine`` passed in is used to place new
    calls but is run by its owner.
    """
    owns_db = db is None
    database = db or create_database(settings.resolved_database_url)
    live_engine = engine or (Engine(database, settings) if run_engine else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        if run_engine and engine is None and live_engine is not None:
            task = asyncio.create_task(live_engine.run(stop), name="voxline-engine")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            if owns_db:
                await database.dispose()

    async def call_created(call_id: str) -> ProviderError | None:
        """Place a new call at once where an engine runs here; else wake the workers."""
        if live_engine is not None:
            return await live_engine.place_now(call_id)
        await notify_dispatch(database)
        return None

    app = FastAPI(
        title="Voxline API",
        version=__version__,
        summary="Phone calls handled by AI voice agents (Truedy public API v1 compatible).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.engine = live_engine
    app.state.call_created = call_created
    app.state.rate_limiter = create_rate_limiter(database, settings.rate_limit_per_minute)

    install_error_handlers(app)
    # Added first, so it runs inside RequestContextMiddleware and its 413 has a request id.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)

    public = APIRouter(prefix=API_PREFIX)
    for module in (agents, voices, telephony, calls):
        public.include_router(module.router)
    app.include_router(public)
    app.include_router(recordings.router)
    for provider in (twilio, telnyx, plivo):
        app.include_router(provider.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
