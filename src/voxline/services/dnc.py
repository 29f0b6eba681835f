"""The do-not-call list of each organization.

A listed number is refused when a call to it is created (in the transaction that would
insert the call: ``POST /calls`` answers 422 with ``details.reason = "do_not_call"``) and
again when the engine is about to dial it, so a number listed after its call was queued is
not dialed (the call fails with ``end_reason = "rejected"``). Adding a number twice keeps one
row. Nothing here logs a number.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.contacts import check_phone, column_field, normalize_phone
from voxline.errors import NotFound, ValidationFailed
from voxline.services.contact_imports import ImportReport
from voxline.services.csv_rows import CsvBatches, Row
from voxline.storage.db import Database
from voxline.storage.tables import dnc_numbers
from voxline.storage.types import utcnow
from voxline.storage.upserts import insert_for

REASON = "do_not_call"
REASON_MAX = 500


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    phone_number: str
    reason: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EntryPage:
    items: list[Entry]
    total: int


def _entry(row: sa.RowMapping) -> Entry:
    return Entry(row["id"], row["phone_number"], row["reason"], row["created_at"])


def refusal(field: str = "phone_number") -> ValidationFailed:
    """The 422 of a call to a listed number."""
    return ValidationFailed(
        "The number is on the organization's do-not-call list",
        {"field": field, "reason": REASON},
    )


async def is_listed(conn: AsyncConnection, org_id: str, phone_number: str) -> bool:
    query = sa.select(dnc_numbers.c.id).where(
        dnc_numbers.c.organization_id == org_id, dnc_numbers.c.phone_number == phone_number
    )
    return (await conn.execute(query)).first() is not None


async def listed_among(
    conn: AsyncConnection, pairs: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (organization id, number) pairs are listed, in one query."""
    wanted = set(pairs)
    if not wanted:
        return set()
    query = sa.select(dnc_numbers.c.organization_id, dnc_numbers.c.phone_number).where(
        dnc_numbers.c.organization_id.in_({org for org, _ in wanted}),
        dnc_numbers.c.phone_number.in_({number for _, number in wanted}),
    )
    found = {(row.organization_id, row.phone_number) for row in await conn.execute(query)}
    return found & wanted


async def add_in(
    conn: AsyncConnection, org_id: str, phone_number: str, reason: str | None
) -> tuple[Entry, bool]:
    """List a number in the caller's transaction; the entry and whether it is new (an
    entry already there keeps its reason)."""
    inserted = await conn.execute(
        insert_for(conn, dnc_numbers)
        .values(
            id=str(uuid.uuid4()),
            organization_id=org_id,
            phone_number=phone_number,
            reason=reason,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "phone_number"])
    )
    row = (
        await conn.execute(
            sa.select(dnc_numbers).where(
                dnc_numbers.c.organization_id == org_id,
                dnc_numbers.c.phone_number == phone_number,
            )
        )
    ).one()
    return _entry(row._mapping), bool(inserted.rowcount)


async def add(
    db: Database, org_id: str, phone_number: str, reason: str | None = None
) -> tuple[Entry, bool]:
    """List ``phone_number`` (E.164); the entry and whether it is new."""
    phone = check_phone(phone_number)
    async with db.write() as conn:
        return await add_in(conn, org_id, phone, reason)


async def remove(db: Database, org_id: str, phone_number: str) -> str:
    """Take a number off the list; a number not on it is NotFound."""
    phone = normalize_phone(phone_number)
    if phone is None:
        raise NotFound.resource("Do-not-call entry")
    async with db.write() as conn:
        gone = await conn.execute(
            dnc_numbers.delete().where(
                dnc_numbers.c.organization_id == org_id, dnc_numbers.c.phone_number == phone
            )
        )
    if not gone.rowcount:
        raise NotFound.resource("Do-not-call entry")
    return phone


async def list_entries(
    db: Database, org_id: str, *, search: str | None = None, limit: int = 50, offset: int = 0
) -> EntryPage:
    """A page of the list, newest first; ``search`` matches part of the number or reason."""
    where = dnc_numbers.c.organization_id == org_id
    if search:
        where &= sa.or_(
            dnc_numbers.c.phone_number.icontains(search, autoescape=True),
            dnc_numbers.c.reason.icontains(search, autoescape=True),
        )
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(dnc_numbers).where(where))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(dnc_numbers)
                .where(where)
                .order_by(dnc_numbers.c.created_at.desc(), dnc_numbers.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return EntryPage([_entry(r._mapping) for r in rows], int(total))


def _phone_column(header: list[str]) -> str | None:
    if any(column_field(name) == "phone_number" for name in header):
        return None
    return "needs a phone column (phone or phone_number)"


async def import_csv(db: Database, org_id: str, file: Any) -> ImportReport:
    """List the numbers of a CSV file's ``phone`` column (an optional ``reason`` column
    gives each its reason), in batches; a number already listed is ``skipped``."""
    report = ImportReport(folder_id="")
    rows = CsvBatches(file)
    await rows.open(_phone_column)
    async for batch in rows:
        await _write_batch(db, org_id, report, batch)
    if rows.unreadable is not None:
        report.fail(rows.unreadable.number, None, rows.unreadable.reason)
    return report


async def _write_batch(db: Database, org_id: str, report: ImportReport, batch: list[Row]) -> None:
    now = utcnow()
    values: dict[str, dict[str, Any]] = {}
    for row in batch:
        raw = next(
            (v for k, v in row.values.items() if column_field(k) == "phone_number" and v), ""
        )
        phone = normalize_phone(raw)
        if phone is None:
            report.fail(row.number, raw.strip(), "must be a phone number in E.164 format")
            continue
        if phone in values:
            report.skipped += 1
            continue
        reason = (row.values.get("reason") or "").strip()[:REASON_MAX] or None
        values[phone] = dict(
            id=str(uuid.uuid4()),
            organization_id=org_id,
            phone_number=phone,
            reason=reason and reason.replace("\x00", ""),
            created_at=now,
        )
    if not values:
        return
    async with db.write() as conn:
        listed = set(
            (
                await conn.execute(
                    sa.select(dnc_numbers.c.phone_number).where(
                        dnc_numbers.c.organization_id == org_id,
                        dnc_numbers.c.phone_number.in_(list(values)),
                    )
                )
            ).scalars()
        )
        fresh = [v for phone, v in values.items() if phone not in listed]
        if fresh:
            await conn.execute(
                insert_for(conn, dnc_numbers).on_conflict_do_nothing(
                    index_elements=["organization_id", "phone_number"]
                ),
                fresh,
            )
    report.imported += len(fresh)
    report.skipped += len(listed)
