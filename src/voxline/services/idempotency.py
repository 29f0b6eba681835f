"""``X-Idempotency-Key``: the same key and body give the stored response and create nothing.

The record is inserted in the same transaction as the resource it guards, before the
resource is created. A concurrent duplicate therefore waits on the unique key
(organization, endpoint, key) until the first transaction commits, then fails to insert and
reads the stored response: however many duplicates arrive at once, exactly one resource is
made. When the action fails, its transaction rolls back with the record, so errors are not
stored and a retry runs again. An action whose effect is known only after its transaction
commits (``POST /calls`` dials after the call is stored) replaces the stored response with
its final answer (:func:`store_final`), so a replay gets what the first request got.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.errors import Conflict, ValidationFailed
from voxline.storage.db import Database
from voxline.storage.tables import idempotency_records
from voxline.storage.types import utcnow

MAX_KEY_LENGTH = 255

Action = Callable[[AsyncConnection], Awaitable[tuple[int, Any]]]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def request_hash(payload: Any, hash_key: str | None = None) -> str:
    """The fingerprint of a request body. With ``hash_key`` (the deployment's secret) it is
    an HMAC, so a body's secrets (a tool's API key) cannot be guessed back from it offline."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    if hash_key is None:
        return hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(hash_key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


async def execute(
    db: Database,
    *,
    org_id: str,
    endpoint: str,
    key: str | None,
    payload: Any,
    ttl_seconds: int,
    action: Action,
    hash_key: str | None = None,
) -> Outcome:
    """Run ``action`` (returning status and JSON body) at most once per key and payload
    (fingerprinted with ``hash_key``, see :func:`request_hash`)."""
    if key is None:
        async with db.write() as conn:
            status, body = await action(conn)
        return Outcome(status, body, replayed=False)
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise ValidationFailed.field(
            "X-Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters"
        )
    digest = request_hash(payload, hash_key)
    where = (
        (idempotency_records.c.organization_id == org_id)
        & (idempotency_records.c.endpoint == endpoint)
        & (idempotency_records.c.key == key)
    )

    class _Duplicate(Exception):
        pass

    try:
        async with db.write() as conn:
            now = utcnow()
            await conn.execute(
                sa.delete(idempotency_records).where(
                    where & (idempotency_records.c.expires_at <= now)
                )
            )
            try:
                await conn.execute(
                    idempotency_records.insert().values(
                        id=str(uuid.uuid4()),
                        organization_id=org_id,
                        endpoint=endpoint,
                        key=key,
                        request_hash=digest,
                        created_at=now,
                        expires_at=now + timedelta(seconds=ttl_seconds),
                    )
                )
            except IntegrityError as exc:
                raise _Duplicate from exc
            status, body = await action(conn)
            await conn.execute(
                idempotency_records.update()
                .where(where)
                .values(status_code=status, response_body=body)
            )
        return Outcome(status, body, replayed=False)
    except _Duplicate:
        pass
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    idempotency_records.c.request_hash,
                    idempotency_records.c.status_code,
                    idempotency_records.c.response_body,
                ).where(where)
            )
        ).first()
    if row is None or row.status_code is None:
        # The unique key fired for another reason, or the record expired in between.
        raise Conflict("A request with this idempotency key is being processed; retry shortly")
    # A record written before fingerprints were keyed holds the plain hash.
    same = {digest, request_hash(payload)}
    if row.request_hash not in same:
        raise Conflict(
            "This idempotency key was already used with a different request body",
            {"idempotency_key": key},
        )
    return Outcome(row.status_code, row.response_body, replayed=True)


async def store_final(
    db: Database, *, org_id: str, endpoint: str, key: str, status: int, body: Any
) -> None:
    """Replace the stored response of ``key`` with the request's final answer."""
    async with db.write() as conn:
        await conn.execute(
            idempotency_records.update()
            .where(
                (idempotency_records.c.organization_id == org_id)
                & (idempotency_records.c.endpoint == endpoint)
                & (idempotency_records.c.key == key)
            )
            .values(status_code=status, response_body=body)
        )


async def purge_expired(db: Database) -> int:
    async with db.write() as conn:
        result = await conn.execute(
            sa.delete(idempotency_records).where(idempotency_records.c.expires_at <= utcnow())
        )
    return int(result.rowcount or 0)
