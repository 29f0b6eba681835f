"""The operator's endpoints: ``/healthz``, ``/readyz`` and ``/metrics``.

Outside the API prefix, without an API key, and not in the OpenAPI document. ``/metrics``
tells anyone who can reach it how busy the deployment is; keep it on a private network, or
set ``VOXLINE_METRICS_TOKEN`` so that it answers only ``Authorization: Bearer <token>``.

- ``GET /healthz``: the process is alive (200 whenever it can answer at all).
- ``GET /readyz``: 200 when the process should be sent work (:meth:`Runtime.readiness`),
  else 503; both bodies name each check's outcome.
- ``GET /metrics``: the process's metrics in Prometheus' text format, with the database's
  gauges counted at that moment (:mod:`voxline.services.gauges`).
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voxline.api.deps import RuntimeDep, runtime_of
from voxline.errors import Unauthorized
from voxline.logging import get_logger
from voxline.ops.metrics import CONTENT_TYPE
from voxline.services import gauges

__all__ = ["router"]

log = get_logger("api.ops")

router = APIRouter(tags=["operations"])

_bearer = HTTPBearer(auto_error=False)


async def _metrics_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse a scrape without the configured token (when one is configured)."""
    token = runtime_of(request).settings.metrics_token
    if token is None:
        return
    presented = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
        raise Unauthorized("Invalid or missing metrics token")


@router.get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    readiness = await runtime.readiness()
    return JSONResponse(
        {"status": "ok" if readiness.ready else "unavailable", "checks": readiness.checks},
        status_code=200 if readiness.ready else 503,
    )


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(_metrics_token)])
async def metrics(runtime: RuntimeDep) -> Response:
    counts = None
    try:
        async with asyncio.timeout(runtime.settings.readiness_timeout_seconds):
            counts = await gauges.count(runtime.db, runtime.providers.names())
    except Exception as exc:
        log.warning("metrics: database gauges unavailable", extra={"error": type(exc).__name__})
    runtime.metrics.set_database_counts(counts)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
