"""Organizations: the tenants that own keys, agents, numbers, calls and credits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.money import from_micros
from voxline.errors import NotFound, ValidationFailed
from voxline.storage.db import Database
from voxline.storage.tables import organizations
from voxline.storage.types import utcnow


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    credit_balance: Decimal
    concurrency_limit: int | None
    created_at: datetime


def _from_row(row: sa.Row[tuple[object, ...]]) -> Organization:
    m = row._mapping
    return Organization(
        id=m["id"],
        name=m["name"],
        credit_balance=from_micros(m["credit_balance_micros"]),
        concurrency_limit=m["concurrency_limit"],
        created_at=m["created_at"],
    )


async def create_org(db: Database, name: str) -> Organization:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValidationFailed.field("name", "must be 1 to 200 characters")
    now = utcnow()
    org_id = str(uuid.uuid4())
    async with db.write() as conn:
        await conn.execute(
            organizations.insert().values(
                id=org_id,
                name=name,
                credit_balance_micros=0,
                concurrency_limit=None,
                created_at=now,
                updated_at=now,
            )
        )
        return await load_org(conn, org_id)


async def load_org(conn: AsyncConnection, org_id: str) -> Organization:
    row = (await conn.execute(sa.select(organizations).where(organizations.c.id == org_id))).first()
    if row is None:
        raise NotFound.resource("Organization", org_id)
    return _from_row(row)


async def get_org(db: Database, org_id: str) -> Organization:
    async with db.read() as conn:
        return await load_org(conn, org_id)


async def find_org_by_name(db: Database, name: str) -> Organization | None:
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(organizations)
                .where(organizations.c.name == name)
                .order_by(organizations.c.created_at)
                .limit(1)
            )
        ).first()
    return _from_row(row) if row else None


async def set_concurrency_limit(db: Database, org_id: str, limit: int | None) -> Organization:
    if limit is not None and limit < 1:
        raise ValidationFailed.field("concurrency_limit", "must be at least 1")
    async with db.write() as conn:
        result = await conn.execute(
            organizations.update()
            .where(organizations.c.id == org_id)
            .values(concurrency_limit=limit, updated_at=utcnow())
        )
        if result.rowcount == 0:
            raise NotFound.resource("Organization", org_id)
        return await load_org(conn, org_id)
