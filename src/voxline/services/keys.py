"""API keys: create (shown once), revoke, authenticate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from voxline.domain.api_keys import generate_key, hash_key, hashes_match, looks_like_key
from voxline.errors import NotFound, Unauthorized
from voxline.storage.db import Database
from voxline.storage.tables import api_keys, organizations
from voxline.storage.types import utcnow


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    org_id: str
    prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly created key; ``secret`` exists only here and is never stored."""

    key: ApiKey
    secret: str


async def create_key(db: Database, org_id: str, name: str | None = None) -> IssuedKey:
    new = generate_key()
    key_id = str(uuid.uuid4())
    now = utcnow()
    async with db.write() as conn:
        exists = (
            await conn.execute(sa.select(organizations.c.id).where(organizations.c.id == org_id))
        ).first()
        if exists is None:
            raise NotFound.resource("Organization", org_id)
        await conn.execute(
            api_keys.insert().values(
                id=key_id,
                organization_id=org_id,
                name=name,
                prefix=new.display_prefix,
                key_hash=new.key_hash,
                created_at=now,
            )
        )
    key = ApiKey(key_id, org_id, new.display_prefix, name, now, None)
    return IssuedKey(key=key, secret=new.secret)


async def revoke_key(db: Database, key_id: str) -> ApiKey:
    async with db.write() as conn:
        row = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id))).first()
        if row is None:
            raise NotFound.resource("API key", key_id)
        revoked_at = row.revoked_at or utcnow()
        await conn.execute(
            api_keys.update().where(api_keys.c.id == key_id).values(revoked_at=revoked_at)
        )
    return ApiKey(row.id, row.organization_id, row.prefix, row.name, row.created_at, revoked_at)


async def authenticate_key(db: Database, presented: str) -> ApiKey:
    """The active key matching ``presented``; :class:`Unauthorized` for anything else."""
    if not looks_like_key(presented):
        raise Unauthorized("Invalid or missing API key")
    digest = hash_key(presented)
    rows = await db.query(sa.select(api_keys).where(api_keys.c.key_hash == digest))
    row = rows[0] if rows else None
    if row is None or not hashes_match(row.key_hash, digest) or row.revoked_at is not None:
        raise Unauthorized("Invalid or missing API key")
    return ApiKey(row.id, row.organization_id, row.prefix, row.name, row.created_at, None)


async def active_key(db: Database, key_id: str) -> ApiKey:
    """The key ``key_id`` while it is active; :class:`Unauthorized` once it is revoked or gone.

    A dashboard session holds a key's id, never its secret, and asks this on every request,
    so revoking the key signs its sessions out."""
    try:
        canonical = str(uuid.UUID(key_id))
    except (ValueError, AttributeError, TypeError):
        raise Unauthorized("Invalid or missing API key") from None
    rows = await db.query(sa.select(api_keys).where(api_keys.c.id == canonical))
    row = rows[0] if rows else None
    if row is None or row.revoked_at is not None:
        raise Unauthorized("Invalid or missing API key")
    return ApiKey(row.id, row.organization_id, row.prefix, row.name, row.created_at, None)
