"""Typed dependencies shared by the routes: settings, database, the caller's organization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voxline.config import Settings
from voxline.errors import Unauthorized
from voxline.services.keys import authenticate_key
from voxline.services.rate_limit import RateLimiter
from voxline.storage.db import Database

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="BearerAuth",
    description="An API key: `Authorization: Bearer vx_...`",
)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


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
    db: Database = request.app.state.db
    key = await authenticate_key(db, credentials.credentials)
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.hit(key.org_id)
    return Caller(org_id=key.org_id, key_id=key.id)


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
CallerDep = Annotated[Caller, Depends(get_caller)]
