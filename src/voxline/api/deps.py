"""Typed dependencies shared by the routes: the runtime, settings, database, the caller's
organization. Everything a route needs of the process comes from the :class:`Runtime` the
app was built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from voxline.config import Settings
from voxline.errors import Unauthorized
from voxline.runtime import Runtime
from voxline.services.keys import authenticate_key
from voxline.storage.db import Database

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerAuth",
    description="An API key: `Authorization: Bearer vx_...`",
)


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The runtime of the app serving ``connection`` (a request or a WebSocket)."""
    runtime: Runtime = connection.app.state.runtime
    return runtime


def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


def get_settings(request: Request) -> Settings:
    return runtime_of(request).settings


def get_db(request: Request) -> Database:
    return runtime_of(request).db


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the organization of the presented API key."""

    org_id: str
    key_id: str


async def get_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Invalid or missing API key")
    runtime = runtime_of(request)
    key = await authenticate_key(runtime.db, credentials.credentials)
    await runtime.rate_limiter.hit(key.org_id)
    return Caller(org_id=key.org_id, key_id=key.id)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
CallerDep = Annotated[Caller, Depends(get_caller)]
