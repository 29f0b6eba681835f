"""The contacts of a batch: copying them in (inline, by id, from a folder), listing them,
and the batch's analytics.

A batch contact is a copy: editing or deleting the contact later does not change a batch that
already has it. A phone number appears once per batch; a second one is not added (and counts
as failed in ``POST /batch-calls/{id}/contacts``). Copies are written in pages of
:data:`PAGE` rows, so a folder of any size is copied without holding it in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain import contacts as contact_rules
from voxline.domain.batches import ContactStatus
from voxline.domain.money import from_micros
from voxline.errors import NotFound, ValidationFailed
from voxline.services.batch_records import parse_id
from voxline.storage.tables import batch_contacts, calls, contacts
from voxline.storage.types import utcnow
from voxline.storage.upserts import insert_for

PAGE = 1000
INLINE_FIELDS = ("phone_number", "first_name", "last_name", "email", "timezone", "custom_fields")


@dataclass(frozen=True, slots=True)
class BatchContact:
    id: str
    contact_id: str | None
    phone_number: str
    first_name: str | None
    last_name: str | None
    email: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    call_status: str
    attempts: int
    scheduled_at: datetime | None
    call_id: str | None
    last_outcome: str | None
    called_at: datetime | None


def check_inline(
    items: Sequence[Mapping[str, Any]], field: str = "contacts"
) -> list[dict[str, Any]]:
    """The stored form of inline contacts, or a 422 naming the first one at fault."""
    checked = []
    for index, item in enumerate(items):
        unknown = set(item) - set(INLINE_FIELDS)
        if unknown:
            raise ValidationFailed.field(f"{field}[{index}].{sorted(unknown)[0]}", "is not allowed")
        if "phone_number" not in item:
            raise ValidationFailed.field(f"{field}[{index}].phone_number", "is required")
        try:
            checked.append(contact_rules.check_contact(item))
        except ValidationFailed as exc:
            where = exc.details.get("field", "")
            exc.details["field"] = f"{field}[{index}].{where}"
            exc.message = f"{field}[{index}]: {exc.message}"
            raise
    return checked


async def insert(
    conn: AsyncConnection,
    batch_id: str,
    org_id: str,
    items: Sequence[Mapping[str, Any]],
    now: datetime | None = None,
) -> int:
    """Add checked contacts to the batch; the number added (a phone number already in the
    batch is not added again)."""
    now = now or utcnow()
    added = 0
    for start in range(0, len(items), PAGE):
        rows = [
            dict(
                id=str(uuid.uuid4()),
                batch_id=batch_id,
                organization_id=org_id,
                contact_id=item.get("contact_id"),
                phone_number=item["phone_number"],
                first_name=item.get("first_name"),
                last_name=item.get("last_name"),
                email=item.get("email"),
                timezone=item.get("timezone"),
                custom_fields=dict(item.get("custom_fields") or {}),
                status=ContactStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            for item in items[start : start + PAGE]
        ]
        statement = (
            insert_for(conn, batch_contacts)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["batch_id", "phone_number"])
        )
        added += (await conn.execute(statement)).rowcount
    return added


_COPIED = (
    contacts.c.id,
    contacts.c.phone_number,
    contacts.c.first_name,
    contacts.c.last_name,
    contacts.c.email,
    contacts.c.timezone,
    contacts.c.custom_fields,
)


def _copy(row: Any) -> dict[str, Any]:
    return {**row._mapping, "contact_id": row.id}


async def copy_by_ids(
    conn: AsyncConnection, batch_id: str, org_id: str, contact_ids: Sequence[str]
) -> int:
    """Copy the organization's contacts ``contact_ids``; 404 naming the first unknown one."""
    wanted = list(dict.fromkeys(contact_ids))
    for value in wanted:
        if parse_id(value) is None:
            raise _unknown_contact(value)
    added = 0
    for start in range(0, len(wanted), PAGE):
        page = [str(parse_id(v)) for v in wanted[start : start + PAGE]]
        rows = (
            await conn.execute(
                sa.select(*_COPIED).where(
                    contacts.c.organization_id == org_id, contacts.c.id.in_(page)
                )
            )
        ).all()
        found = {r.id for r in rows}
        missing = next((v for v in page if v not in found), None)
        if missing is not None:
            raise _unknown_contact(missing)
        added += await insert(conn, batch_id, org_id, [_copy(r) for r in rows])
    return added


async def copy_folder(conn: AsyncConnection, batch_id: str, org_id: str, folder_id: str) -> int:
    """Copy every contact of the folder, a page at a time (keyset on the contact id)."""
    added = 0
    after = ""
    while True:
        rows = (
            await conn.execute(
                sa.select(*_COPIED)
                .where(
                    contacts.c.organization_id == org_id,
                    contacts.c.folder_id == folder_id,
                    contacts.c.id > after,
                )
                .order_by(contacts.c.id)
                .limit(PAGE)
            )
        ).all()
        if not rows:
            return added
        added += await insert(conn, batch_id, org_id, [_copy(r) for r in rows])
        after = rows[-1].id


def _unknown_contact(contact_id: str) -> NotFound:
    error = NotFound.resource("Contact", contact_id)
    error.details.update({"field": "contact_ids", "contact_id": contact_id})
    return error


def _of(row: sa.RowMapping) -> BatchContact:
    return BatchContact(
        id=row["id"],
        contact_id=row["contact_id"],
        phone_number=row["phone_number"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        timezone=row["timezone"],
        custom_fields=dict(row["custom_fields"] or {}),
        call_status=row["status"],
        attempts=row["attempts"],
        scheduled_at=row["next_attempt_at"]
        if row["status"] in (ContactStatus.PENDING, ContactStatus.SCHEDULED)
        else None,
        call_id=row["last_call_id"],
        last_outcome=row["last_outcome"],
        called_at=row["called_at"],
    )


async def list_page(
    conn: AsyncConnection, batch_id: str, status: str | None, limit: int, offset: int
) -> tuple[list[BatchContact], int]:
    """A page of the batch's contacts, oldest first (those added together in no set
    order), and how many match."""
    where = batch_contacts.c.batch_id == batch_id
    if status is not None:
        where = sa.and_(where, batch_contacts.c.status == status)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(batch_contacts).where(where))
    ).scalar_one()
    rows = (
        await conn.execute(
            sa.select(batch_contacts)
            .where(where)
            .order_by(batch_contacts.c.created_at, batch_contacts.c.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return [_of(r._mapping) for r in rows], int(total)


@dataclass(frozen=True, slots=True)
class Analytics:
    """What a batch's calls came to: contacts per status and per last outcome, and its
    calls (every attempt) in total, connected, failed and still pending, their average
    duration (of connected calls) and their total cost."""

    batch_id: str
    contacts_by_status: dict[str, int]
    contacts_by_outcome: dict[str, int]
    calls: int
    connected: int
    failed: int
    pending: int
    average_duration_seconds: float | None
    total_cost_usd: str


async def analytics(conn: AsyncConnection, batch_id: str) -> Analytics:
    by_status = {
        status: int(n)
        for status, n in (
            await conn.execute(
                sa.select(batch_contacts.c.status, sa.func.count())
                .where(batch_contacts.c.batch_id == batch_id)
                .group_by(batch_contacts.c.status)
            )
        ).all()
    }
    by_outcome = {
        outcome: int(n)
        for outcome, n in (
            await conn.execute(
                sa.select(batch_contacts.c.last_outcome, sa.func.count())
                .where(
                    batch_contacts.c.batch_id == batch_id,
                    batch_contacts.c.last_outcome.is_not(None),
                )
                .group_by(batch_contacts.c.last_outcome)
            )
        ).all()
    }
    of_batch = calls.c.batch_contact_id.in_(
        sa.select(batch_contacts.c.id).where(batch_contacts.c.batch_id == batch_id)
    )
    active = ("queued", "ringing", "in_progress")
    row = (
        await conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.sum(sa.case((calls.c.started_at.is_not(None), 1), else_=0)),
                sa.func.sum(sa.case((calls.c.status.in_(active), 1), else_=0)),
                sa.func.avg(sa.case((calls.c.started_at.is_not(None), calls.c.duration_seconds))),
                sa.func.sum(calls.c.cost_micros),
            ).where(of_batch)
        )
    ).one()
    total, connected, pending, average, cost = row
    total, connected, pending = int(total or 0), int(connected or 0), int(pending or 0)
    return Analytics(
        batch_id=batch_id,
        contacts_by_status=by_status,
        contacts_by_outcome=by_outcome,
        calls=total,
        connected=connected,
        failed=total - connected - pending,
        pending=pending,
        average_duration_seconds=None if average is None else round(float(average), 1),
        total_cost_usd=str(from_micros(int(cost or 0))),
    )
