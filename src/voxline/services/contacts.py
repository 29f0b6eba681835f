"""Contacts and their folders: the people batch calls will dial.

Every function is scoped to one organization: another organization's folder or contact, like
an unknown or malformed id, is :class:`NotFound`. A phone number is unique within a folder
(a database key); a contact without a folder goes to the organization's default folder,
made on first use (:func:`voxline.domain.contacts.default_folder_id`). Nothing here logs a
contact's fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.contacts import DEFAULT_FOLDER_NAME, FIELDS, check_contact, default_folder_id
from voxline.errors import Conflict, NotFound, ValidationFailed
from voxline.storage.db import Database
from voxline.storage.tables import contact_folders, contacts
from voxline.storage.types import utcnow
from voxline.storage.upserts import insert_for

T = TypeVar("T")
FolderSort = Literal["name", "created_at", "contact_count"]
_DUPLICATE = "a contact with this phone number is already in the folder"


@dataclass(frozen=True, slots=True)
class Folder:
    id: str
    name: str
    description: str | None
    contact_count: int
    is_default: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    folder_id: str
    phone_number: str
    fields: dict[str, Any]
    custom_fields: dict[str, Any]
    call_count: int
    last_called_at: datetime | None
    last_call_outcome: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


# --- folders ----------------------------------------------------------------------------------


def _folder(row: sa.RowMapping, count: int) -> Folder:
    return Folder(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        contact_count=count,
        is_default=row["id"] == default_folder_id(row["organization_id"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def ensure_default_folder(conn: AsyncConnection, org_id: str) -> str:
    """The id of the organization's default folder, made now if it is missing (two
    concurrent makers meet on its primary key)."""
    folder_id = default_folder_id(org_id)
    now = utcnow()
    await conn.execute(
        insert_for(conn, contact_folders)
        .values(
            id=folder_id,
            organization_id=org_id,
            name=DEFAULT_FOLDER_NAME,
            description=None,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return folder_id


async def folder_row(
    conn: AsyncConnection, org_id: str, folder_id: str, *, lock: bool = False
) -> sa.RowMapping:
    """The organization's folder (locked on PostgreSQL with ``lock``), or NotFound."""
    canonical = _uuid(folder_id)
    if canonical is None:
        raise NotFound.resource("Folder")
    query = sa.select(contact_folders).where(
        (contact_folders.c.id == canonical) & (contact_folders.c.organization_id == org_id)
    )
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.resource("Folder", canonical)
    return row._mapping


async def resolve_folder(conn: AsyncConnection, org_id: str, folder_id: str | None) -> str:
    """``folder_id`` when it is one of the organization's folders, the default folder when
    it is ``None``; else NotFound."""
    if folder_id is None:
        return await ensure_default_folder(conn, org_id)
    return str((await folder_row(conn, org_id, folder_id))["id"])


async def _count(conn: AsyncConnection, folder_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(contacts)
    return int((await conn.execute(query.where(contacts.c.folder_id == folder_id))).scalar_one())


async def list_folders(
    db: Database,
    org_id: str,
    *,
    sort_by: FolderSort = "created_at",
    order: Literal["asc", "desc"] = "desc",
    limit: int = 50,
    offset: int = 0,
) -> Page[Folder]:
    counts = (
        sa.select(contacts.c.folder_id, sa.func.count().label("n"))
        .where(contacts.c.organization_id == org_id)
        .group_by(contacts.c.folder_id)
        .subquery()
    )
    count = sa.func.coalesce(counts.c.n, 0).label("contact_count")
    key = {"name": contact_folders.c.name, "created_at": contact_folders.c.created_at}.get(
        sort_by, count
    )
    ordering = [key.asc(), contact_folders.c.id.asc()]
    if order == "desc":
        ordering = [key.desc(), contact_folders.c.id.desc()]
    where = contact_folders.c.organization_id == org_id
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(contact_folders).where(where))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(contact_folders, count)
                .select_from(
                    contact_folders.outerjoin(counts, counts.c.folder_id == contact_folders.c.id)
                )
                .where(where)
                .order_by(*ordering)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return Page([_folder(r._mapping, r.contact_count) for r in rows], int(total))


async def get_folder(db: Database, org_id: str, folder_id: str) -> Folder:
    async with db.read() as conn:
        row = await folder_row(conn, org_id, folder_id)
        return _folder(row, await _count(conn, row["id"]))


async def create_folder(db: Database, org_id: str, name: str, description: str | None) -> Folder:
    now = utcnow()
    folder_id = str(uuid.uuid4())
    async with db.write() as conn:
        await conn.execute(
            contact_folders.insert().values(
                id=folder_id,
                organization_id=org_id,
                name=name,
                description=description,
                created_at=now,
                updated_at=now,
            )
        )
        return _folder(await folder_row(conn, org_id, folder_id), 0)


async def update_folder(
    db: Database, org_id: str, folder_id: str, changes: Mapping[str, Any]
) -> Folder:
    """Change the given ``name`` and ``description``; ``updated_at`` always moves."""
    async with db.write() as conn:
        row = await folder_row(conn, org_id, folder_id, lock=True)
        await conn.execute(
            contact_folders.update()
            .where(contact_folders.c.id == row["id"])
            .values(**changes, updated_at=max(utcnow(), row["updated_at"]))
        )
        return _folder(await folder_row(conn, org_id, row["id"]), await _count(conn, row["id"]))


async def delete_folder(db: Database, org_id: str, folder_id: str) -> tuple[str, int]:
    """Delete a folder and every contact in it; its id and how many contacts went. The
    default folder may go too: it is made again when next needed."""
    async with db.write() as conn:
        row = await folder_row(conn, org_id, folder_id, lock=True)
        gone = await conn.execute(contacts.delete().where(contacts.c.folder_id == row["id"]))
        await conn.execute(contact_folders.delete().where(contact_folders.c.id == row["id"]))
    return str(row["id"]), int(gone.rowcount or 0)


# --- contacts ---------------------------------------------------------------------------------


def contact_of(row: sa.RowMapping) -> Contact:
    return Contact(
        id=row["id"],
        folder_id=row["folder_id"],
        phone_number=row["phone_number"],
        fields={
            name: row[name] for name in FIELDS if name not in ("phone_number", "custom_fields")
        },
        custom_fields=dict(row["custom_fields"] or {}),
        call_count=row["call_count"],
        last_called_at=row["last_called_at"],
        last_call_outcome=row["last_call_outcome"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def contact_row(
    conn: AsyncConnection, org_id: str, contact_id: str, *, lock: bool = False
) -> sa.RowMapping:
    canonical = _uuid(contact_id)
    if canonical is None:
        raise NotFound.resource("Contact")
    query = sa.select(contacts).where(
        (contacts.c.id == canonical) & (contacts.c.organization_id == org_id)
    )
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.resource("Contact", canonical)
    return row._mapping


async def _refuse_duplicate(
    conn: AsyncConnection, folder_id: str, phone: str, contact_id: str | None = None
) -> None:
    query = sa.select(contacts.c.id).where(
        (contacts.c.folder_id == folder_id) & (contacts.c.phone_number == phone)
    )
    found = (await conn.execute(query)).scalar()
    if found is not None and found != contact_id:
        raise Conflict(
            "A contact with this phone number is already in the folder",
            {"field": "phone_number", "reason": _DUPLICATE, "contact_id": found},
        )


async def list_contacts(
    db: Database,
    org_id: str,
    *,
    folder_id: str | None = None,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[Contact]:
    """A page of contacts, newest first; ``search`` matches part of the first or last name,
    the full name, the phone number or the email, ignoring case. An unknown ``folder_id``
    is NotFound."""
    where = contacts.c.organization_id == org_id
    async with db.read() as conn:
        if folder_id is not None:
            folder = await folder_row(conn, org_id, folder_id)
            where &= contacts.c.folder_id == folder["id"]
        if search:
            full_name = (
                sa.func.coalesce(contacts.c.first_name, "")
                + " "
                + sa.func.coalesce(contacts.c.last_name, "")
            )
            where &= sa.or_(
                *(
                    column.icontains(search, autoescape=True)
                    for column in (
                        contacts.c.phone_number,
                        contacts.c.email,
                        contacts.c.first_name,
                        contacts.c.last_name,
                        full_name,
                    )
                )
            )
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(contacts).where(where))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(contacts)
                .where(where)
                .order_by(contacts.c.created_at.desc(), contacts.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return Page([contact_of(r._mapping) for r in rows], int(total))


async def get_contact(db: Database, org_id: str, contact_id: str) -> Contact:
    async with db.read() as conn:
        return contact_of(await contact_row(conn, org_id, contact_id))


async def create_contact(
    db: Database, org_id: str, folder_id: str | None, values: Mapping[str, Any]
) -> Contact:
    """Add a contact to ``folder_id`` (the default folder when ``None``); a phone number
    already in the folder is a :class:`Conflict`."""
    checked = check_contact(values)
    if "phone_number" not in checked:
        raise ValidationFailed.field("phone_number", "is required")
    now = utcnow()
    contact_id = str(uuid.uuid4())
    try:
        async with db.write() as conn:
            target = await resolve_folder(conn, org_id, folder_id)
            await _refuse_duplicate(conn, target, checked["phone_number"])
            await conn.execute(
                contacts.insert().values(
                    {
                        **_full_row(checked),
                        "id": contact_id,
                        "organization_id": org_id,
                        "folder_id": target,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            )
            return contact_of(await contact_row(conn, org_id, contact_id))
    except IntegrityError:
        raise Conflict(
            "A contact with this phone number is already in the folder",
            {"field": "phone_number", "reason": _DUPLICATE},
        ) from None


async def update_contact(
    db: Database,
    org_id: str,
    contact_id: str,
    values: Mapping[str, Any],
    folder_id: str | None = None,
) -> Contact:
    """Change the given fields (and move the contact to ``folder_id``); ``updated_at``
    always moves. A phone number already in the target folder is a :class:`Conflict`."""
    checked = check_contact(values)
    try:
        async with db.write() as conn:
            row = await contact_row(conn, org_id, contact_id, lock=True)
            target = row["folder_id"]
            if folder_id is not None:
                target = checked["folder_id"] = (await folder_row(conn, org_id, folder_id))["id"]
            phone = checked.get("phone_number", row["phone_number"])
            if target != row["folder_id"] or phone != row["phone_number"]:
                await _refuse_duplicate(conn, target, phone, row["id"])
            await conn.execute(
                contacts.update()
                .where(contacts.c.id == row["id"])
                .values(**checked, updated_at=max(utcnow(), row["updated_at"]))
            )
            return contact_of(await contact_row(conn, org_id, row["id"]))
    except IntegrityError:
        raise Conflict(
            "A contact with this phone number is already in the folder",
            {"field": "phone_number", "reason": _DUPLICATE},
        ) from None


async def delete_contact(db: Database, org_id: str, contact_id: str) -> str:
    async with db.write() as conn:
        row = await contact_row(conn, org_id, contact_id, lock=True)
        await conn.execute(contacts.delete().where(contacts.c.id == row["id"]))
    return str(row["id"])


def _full_row(checked: Mapping[str, Any]) -> dict[str, Any]:
    """Every contact field, those not given empty."""
    row: dict[str, Any] = {name: None for name in FIELDS}
    row["custom_fields"] = {}
    row.update(checked)
    return row
