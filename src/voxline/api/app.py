"""The application factory."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute

from voxline import __version__
from voxline.api import ops
from voxline.api.body_limit import BodyLimitMiddleware
from voxline.api.errors import install_error_handlers
from voxline.api.http_metrics import HttpMetricsMiddleware
from voxline.api.middleware import RequestContextMiddleware
from voxline.api.providers import routes as provider_routes
from voxline.api.routes import (
    agents,
    batches,
    calls,
    contacts,
    dnc,
    recordings,
    sandbox,
    telephony,
    tools,
    voices,
    webhooks,
)
from voxline.config import Settings
from voxline.dashboard.app import create_dashboard
from voxline.runtime import Runtime

API_PREFIX = "/api/public/v1"


@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    """The routes of the API, the carriers' callbacks, recordings and operations, built once
    per process.

    Including a router makes FastAPI analyse every endpoint's parameters and models again
    (~0.5 s of CPU for Voxline's ~200 routes). The routes hold no state of an app — each
    request reaches its runtime through ``request.app.state`` — so every app of a process
    (the test suite builds one per test) shares them.
    """
    public = APIRouter(prefix=API_PREFIX)
    for module in (
        agents,
        tools,
        voices,
        telephony,
        calls,
        batches,
        contacts,
        dnc,
        sandbox,
        webhooks,
    ):
        public.include_router(module.router)
    everything = APIRouter()
    for router in (public, recordings.router, provider_routes.router, ops.router):
        everything.include_router(router)
    return tuple(everything.routes)


def create_app(settings: Settings, runtime: Runtime) -> FastAPI:
    """Build the ASGI app serving ``runtime`` (see :mod:`voxline.runtime`), which the app
    runs for its lifetime: its engine, when it runs one, and closing what it owns."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    app = FastAPI(
        title="Voxline API",
        version=__version__,
        summary="Phone calls handled by AI voice agents (Truedy public API v1 compatible).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime

    install_error_handlers(app)
    # Added first, so it runs inside RequestContextMiddleware and its 413 has a request id.
    # CSV uploads are read as they arrive (never held whole), so they may be larger.
    uploads = {
        f"{API_PREFIX}/contacts/import": settings.contacts_import_max_bytes,
        f"{API_PREFIX}/dnc/import": settings.contacts_import_max_bytes,
    }
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, multipart_limits=uploads
    )
    app.add_middleware(RequestContextMiddleware)
    # Outermost: it times the whole request, the 500 envelope of an unexpected error too.
    app.add_middleware(HttpMetricsMiddleware, metrics=runtime.metrics)

    app.router.routes.extend(_routes())
    app.mount("/dashboard", create_dashboard(settings, runtime))

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=307)

    return app
