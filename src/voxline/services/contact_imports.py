"""Importing contacts in bulk, from a CSV upload or a JSON list, into one folder.

Rows are checked one by one and written in batches of about a thousand, one transaction per
batch, so an import of any size runs in flat memory and a bad row costs only itself: it is
reported with its row number and the reason (the first ``ERROR_DETAILS_MAX`` of them; the
count covers them all). A phone number already in the folder, or repeated in the import, is
updated with the row's values when ``overwrite_existing`` (the columns the row gives; the
others keep their values), else skipped. A batch already written stays written if a later
one fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.contacts import check_contact, column_field, contact_from_row
from voxline.errors import ValidationFailed
from voxline.services.contacts import folder_row, resolve_folder
from voxline.services.csv_rows import BATCH_ROWS, CsvBatches, Row
from voxline.storage.db import Database
from voxline.storage.tables import contacts
from voxline.storage.types import utcnow
from voxline.storage.upserts import insert_for

ERROR_DETAILS_MAX = 1000


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    phone: str | None
    reason: str


@dataclass
class ImportReport:
    """What an import did; ``error_details`` lists the first ``ERROR_DETAILS_MAX`` errors."""

    folder_id: str
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    error_details: list[RowError] = field(default_factory=list)

    def fail(self, row: int, phone: object, reason: str) -> None:
        self.errors += 1
        if len(self.error_details) < ERROR_DETAILS_MAX:
            shown = phone if isinstance(phone, str) and phone else None
            self.error_details.append(RowError(row, shown and shown[:64], reason))

    @property
    def error_details_omitted(self) -> int:
        return self.errors - len(self.error_details)


def _phone_column(header: list[str]) -> str | None:
    if any(column_field(name) == "phone_number" for name in header):
        return None
    return "needs a phone column (phone or phone_number)"


async def import_csv(
    db: Database, org_id: str, file: Any, *, folder_id: str | None, overwrite: bool
) -> ImportReport:
    """Import the contacts of a CSV file object (read in chunks, never whole). The header
    names the columns: ``phone`` (or ``phone_number``) is required; ``name``, ``first_name``,
    ``last_name``, ``email``, ``company_name`` and the other contact fields are optional;
    any other column goes to ``custom_fields``."""
    rows = CsvBatches(file)
    await rows.open(_phone_column)
    report = ImportReport(folder_id=await _target(db, org_id, folder_id))
    async for batch in rows:
        await _write_batch(db, org_id, report, overwrite, batch)
    if rows.unreadable is not None:
        report.fail(rows.unreadable.number, None, rows.unreadable.reason)
    return report


async def import_list(
    db: Database,
    org_id: str,
    items: Sequence[Mapping[str, Any]],
    *,
    folder_id: str | None,
    overwrite: bool,
) -> ImportReport:
    """Import a JSON list of contacts; ``row`` in an error is the item's position from 1."""
    report = ImportReport(folder_id=await _target(db, org_id, folder_id))
    for start in range(0, len(items), BATCH_ROWS):
        batch = [
            Row(start + i + 1, dict(item))
            for i, item in enumerate(items[start : start + BATCH_ROWS])
        ]
        await _write_batch(db, org_id, report, overwrite, batch, from_csv=False)
    return report


async def _target(db: Database, org_id: str, folder_id: str | None) -> str:
    async with db.write() as conn:
        return await resolve_folder(conn, org_id, folder_id)


def _checked(report: ImportReport, row: Row, from_csv: bool) -> dict[str, Any] | None:
    raw: dict[str, Any] = contact_from_row(row.values) if from_csv else dict(row.values)
    if not from_csv:
        metadata = raw.pop("metadata", None)
        if metadata is not None and "custom_fields" not in raw:
            raw["custom_fields"] = metadata
        if "phone" in raw and "phone_number" not in raw:
            raw["phone_number"] = raw.pop("phone")
    phone = raw.get("phone_number")
    if not phone:
        report.fail(row.number, None, "phone_number is required")
        return None
    try:
        return check_contact(raw)
    except ValidationFailed as exc:
        report.fail(row.number, phone if isinstance(phone, str) else None, exc.message)
        return None


async def _write_batch(
    db: Database,
    org_id: str,
    report: ImportReport,
    overwrite: bool,
    batch: list[Row],
    *,
    from_csv: bool = True,
) -> None:
    checked = [values for row in batch if (values := _checked(report, row, from_csv))]
    if not checked:
        return
    now = utcnow()
    async with db.write() as conn:
        folder = (await folder_row(conn, org_id, report.folder_id))["id"]
        phones = {values["phone_number"] for values in checked}
        existing = set(
            (
                await conn.execute(
                    sa.select(contacts.c.phone_number).where(
                        contacts.c.folder_id == folder, contacts.c.phone_number.in_(phones)
                    )
                )
            ).scalars()
        )
        new: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for values in checked:
            phone = values["phone_number"]
            if phone not in existing:
                existing.add(phone)
                new.append(_new_row(values, org_id, folder, now))
            elif overwrite:
                updates.append(values)
            else:
                report.skipped += 1
        if new:
            await conn.execute(
                insert_for(conn, contacts).on_conflict_do_nothing(
                    index_elements=["folder_id", "phone_number"]
                ),
                new,
            )
            report.imported += len(new)
        await _update(conn, folder, updates, now)
        report.updated += len(updates)


def _new_row(values: Mapping[str, Any], org_id: str, folder: str, now: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column.name: None for column in contacts.columns}
    row.update(
        values,
        id=str(uuid.uuid4()),
        organization_id=org_id,
        folder_id=folder,
        custom_fields=values.get("custom_fields") or {},
        call_count=0,
        created_at=now,
        updated_at=now,
    )
    return row


async def _update(
    conn: AsyncConnection, folder: str, updates: list[dict[str, Any]], now: Any
) -> None:
    """Each row's given fields, one statement per set of fields given."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in updates:
        names = tuple(sorted(name for name in values if name != "phone_number"))
        groups.setdefault(names, []).append(values)
    for names, rows in groups.items():
        statement = (
            contacts.update()
            .where(
                contacts.c.folder_id == folder,
                contacts.c.phone_number == sa.bindparam("match_phone"),
            )
            .values({**{name: sa.bindparam(f"new_{name}") for name in names}, "updated_at": now})
        )
        await conn.execute(
            statement,
            [{"match_phone": r["phone_number"], **{f"new_{n}": r[n] for n in names}} for r in rows],
        )
