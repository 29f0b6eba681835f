"""Batch calls (campaigns): creating, reading and editing them, and adding contacts
(``reference/truedy-api.md`` §4); scheduling, pausing, resuming, cancelling and deleting are
in :mod:`voxline.services.batch_lifecycle`.

A batch is created ``draft`` with its contacts, in one transaction (a create that fails
writes nothing) and idempotently (an ``X-Idempotency-Key`` replays the first response).
Another organization's batch is a 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.domain.agents import AgentStatus
from voxline.domain.batches import (
    EDITABLE_STATUSES,
    BatchStatus,
)
from voxline.domain.caller_ids import Pacer, Rotation
from voxline.domain.calling_window import CallingWindow, parse_time, zone
from voxline.domain.retries import RetryPolicy
from voxline.errors import Conflict, NotFound, ValidationFailed
from voxline.services import batch_contacts, idempotency
from voxline.services.batch_records import (
    Batch,
    batch_row,
    counters,
    parse_id,
    read_batch,
    to_batch,
)
from voxline.storage.db import Database
from voxline.storage.tables import agents, batch_calls, contact_folders, phone_numbers
from voxline.storage.types import utcnow

IDEMPOTENCY_ENDPOINT = "POST /batch-calls"
SOURCES = ("csv", "folder", "manual")
SCHEDULE_TYPES = ("immediate", "scheduled")


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """The configurable fields of a batch (the API's names)."""

    name: str
    agent_id: str
    phone_number_ids: list[str] | None = None
    phone_rotation_strategy: str = Rotation.RANDOM.value
    contact_source: str = "csv"
    contact_folder_id: str | None = None
    schedule_type: str = "immediate"
    scheduled_at: datetime | None = None
    timezone: str = "UTC"
    start_time: str | None = None
    end_time: str | None = None
    working_days: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    max_concurrent_calls: int = 10
    max_calls_per_day: int | None = None
    retry_failed: bool = False
    max_retry_attempts: int = 0
    retry_policy: dict[str, dict[str, float]] = field(default_factory=dict)
    calls_per_second: float = 1.0


@dataclass(frozen=True, slots=True)
class NewBatch:
    config: BatchConfig
    contacts: list[dict[str, Any]] = field(default_factory=list)
    contact_ids: list[str] = field(default_factory=list)


PATCHABLE = frozenset(f.name for f in fields(BatchConfig)) - {
    "agent_id",
    "contact_source",
    "contact_folder_id",
}


# What a PATCH may clear (``phone_number_ids``: back to the agent's numbers).
NULLABLE = frozenset(
    {"phone_number_ids", "scheduled_at", "start_time", "end_time", "max_calls_per_day"}
)


def check_config(config: BatchConfig) -> None:
    """422 naming the first field at fault."""
    if not config.name.strip() or len(config.name) > 255:
        raise ValidationFailed.field("name", "must be 1 to 255 characters")
    if config.contact_source not in SOURCES:
        raise ValidationFailed.field("contact_source", f"must be one of {', '.join(SOURCES)}")
    if config.contact_source == "folder" and config.contact_folder_id is None:
        raise ValidationFailed.field(
            "contact_folder_id", "is required when contact_source is folder"
        )
    if config.schedule_type not in SCHEDULE_TYPES:
        raise ValidationFailed.field("schedule_type", "must be immediate or scheduled")
    if config.schedule_type == "scheduled" and config.scheduled_at is None:
        raise ValidationFailed.field("scheduled_at", "is required when schedule_type is scheduled")
    try:
        Rotation(config.phone_rotation_strategy)
    except ValueError:
        allowed = ", ".join(r.value for r in Rotation)
        raise ValidationFailed.field(
            "phone_rotation_strategy", f"must be one of {allowed}"
        ) from None
    window(config)
    zone(config.timezone)
    if not 1 <= config.max_concurrent_calls <= 100:
        raise ValidationFailed.field("max_concurrent_calls", "must be 1 to 100")
    if config.max_calls_per_day is not None and config.max_calls_per_day < 1:
        raise ValidationFailed.field("max_calls_per_day", "must be at least 1")
    RetryPolicy.of(config.retry_failed, config.max_retry_attempts, config.retry_policy)
    Pacer(config.calls_per_second)


def window(config: BatchConfig | Mapping[str, Any]) -> CallingWindow:
    """The calling window of a config or a batch row."""
    get = config.get if isinstance(config, Mapping) else lambda n: getattr(config, n)
    start, end = get("start_time"), get("end_time")
    return CallingWindow(
        parse_time(start, "start_time") if start is not None else None,
        parse_time(end, "end_time") if end is not None else None,
        frozenset(get("working_days") or [1, 2, 3, 4, 5]),
    )


def _config_values(config: BatchConfig) -> dict[str, Any]:
    values = asdict(config)
    values["name"] = config.name.strip()
    return values


# --- creating -------------------------------------------------------------------------------


async def create_batch(
    db: Database,
    settings: Settings,
    org_id: str,
    new: NewBatch,
    *,
    idempotency_key: str | None,
) -> idempotency.Outcome:
    """Create a ``draft`` batch with its contacts: ``(201, batch JSON)``. 404 for an unknown
    agent, folder or contact, 422 for invalid input, an inactive agent or no outbound
    number; nothing is written unless everything is."""
    config = new.config
    check_config(config)
    inline = batch_contacts.check_inline(new.contacts)

    async def action(conn: AsyncConnection) -> tuple[int, Any]:
        await active_agent(conn, org_id, config.agent_id)
        pool = await number_pool(conn, org_id, config.agent_id, config.phone_number_ids)
        folder_id = None
        if config.contact_folder_id is not None:
            folder_id = await _folder(conn, org_id, config.contact_folder_id)
        batch_id = str(uuid.uuid4())
        now = utcnow()
        values = _config_values(replace(config, phone_number_ids=pool))
        values["contact_folder_id"] = folder_id
        await conn.execute(
            batch_calls.insert().values(
                id=batch_id,
                organization_id=org_id,
                status=BatchStatus.DRAFT.value,
                pacing={},
                dialed=0,
                day_count=0,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
        if inline:
            await batch_contacts.insert(conn, batch_id, org_id, inline, now)
        if new.contact_ids:
            await batch_contacts.copy_by_ids(conn, batch_id, org_id, new.contact_ids)
        if folder_id is not None:
            await batch_contacts.copy_folder(conn, batch_id, org_id, folder_id)
        row = await batch_row(conn, org_id, batch_id)
        assert row is not None
        return 201, (await read_batch(conn, row)).to_json()

    return await idempotency.execute(
        db,
        org_id=org_id,
        endpoint=IDEMPOTENCY_ENDPOINT,
        key=idempotency_key,
        payload=asdict(new),
        ttl_seconds=settings.idempotency_ttl_seconds,
        action=action,
        hash_key=settings.resolved_secret_key(),
    )


async def active_agent(conn: AsyncConnection, org_id: str, agent_id: str) -> None:
    wanted = parse_id(agent_id)
    row = None
    if wanted is not None:
        query = sa.select(agents.c.status).where(
            agents.c.id == wanted, agents.c.organization_id == org_id
        )
        row = (await conn.execute(query)).first()
    if row is None:
        error = NotFound.resource("Agent", agent_id)
        error.details.update({"field": "agent_id", "agent_id": agent_id})
        raise error
    if row.status != AgentStatus.ACTIVE:
        raise ValidationFailed(
            "The agent is not active",
            {"field": "agent_id", "reason": "agent_not_active", "agent_status": row.status},
        )


async def number_pool(
    conn: AsyncConnection, org_id: str, agent_id: str, wanted: Sequence[str] | None
) -> list[str]:
    """The caller-ID pool: ``wanted`` (each an organization's number) or the agent's
    outbound numbers; 422 when it is empty or names an unknown number."""
    query = sa.select(phone_numbers.c.id).where(phone_numbers.c.organization_id == org_id)
    if wanted:
        ids = [parse_id(v) for v in wanted]
        query = query.where(phone_numbers.c.id.in_([i for i in ids if i]))
        found = set((await conn.execute(query)).scalars().all())
        for value, parsed in zip(wanted, ids, strict=True):
            if parsed not in found:
                raise ValidationFailed.field(
                    "phone_number_ids",
                    "names a number this organization does not have",
                    phone_number_id=value,
                )
        return list(dict.fromkeys(str(i) for i in ids))
    query = query.where(phone_numbers.c.outbound_agent_id == agent_id).order_by(
        phone_numbers.c.created_at, phone_numbers.c.id
    )
    pool = [str(i) for i in (await conn.execute(query)).scalars().all()]
    if not pool:
        raise ValidationFailed(
            "The agent has no phone number assigned for outbound calls",
            {"field": "phone_number_ids", "reason": "no_phone_number_configured"},
        )
    return pool


async def _folder(conn: AsyncConnection, org_id: str, folder_id: str) -> str:
    wanted = parse_id(folder_id)
    found = None
    if wanted is not None:
        found = (
            await conn.execute(
                sa.select(contact_folders.c.id).where(
                    contact_folders.c.id == wanted, contact_folders.c.organization_id == org_id
                )
            )
        ).scalar()
    if found is None:
        error = NotFound.resource("Folder", folder_id)
        error.details["field"] = "contact_folder_id"
        raise error
    return str(found)


# --- reading --------------------------------------------------------------------------------


async def list_batches(
    db: Database,
    org_id: str,
    *,
    agent_id: str | None,
    status: BatchStatus | None,
    limit: int,
    offset: int,
) -> tuple[list[Batch], int]:
    """A page of the organization's batches, newest first, and how many match."""
    where = batch_calls.c.organization_id == org_id
    if agent_id is not None:
        where = sa.and_(where, batch_calls.c.agent_id == (parse_id(agent_id) or agent_id))
    if status is not None:
        where = sa.and_(where, batch_calls.c.status == status.value)
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(batch_calls).where(where))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(batch_calls)
                .where(where)
                .order_by(batch_calls.c.created_at.desc(), batch_calls.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        counted = await counters(conn, [r.id for r in rows])
    return [to_batch(r._mapping, counted[r.id]) for r in rows], int(total)


async def get_batch(db: Database, org_id: str, batch_id: str) -> Batch:
    async with db.read() as conn:
        return await read_batch(conn, await found_batch(conn, org_id, batch_id))


async def found_batch(
    conn: AsyncConnection, org_id: str, batch_id: str, *, lock: bool = False
) -> sa.RowMapping:
    row = await batch_row(conn, org_id, batch_id, lock=lock)
    if row is None:
        raise NotFound.resource("Batch call", batch_id)
    return row


# --- editing --------------------------------------------------------------------------------


def _config_of(row: sa.RowMapping) -> BatchConfig:
    return BatchConfig(**{f.name: row[f.name] for f in fields(BatchConfig)})


async def update_batch(
    db: Database, org_id: str, batch_id: str, changes: Mapping[str, Any]
) -> Batch:
    """Apply a PATCH (any of :data:`PATCHABLE`) to a draft, scheduled or paused batch; 409
    in another status. Contacts waiting for a call follow the new window when next due."""
    unknown = set(changes) - PATCHABLE
    if unknown:
        raise ValidationFailed.field(sorted(unknown)[0], "cannot be changed")
    if not changes:
        raise ValidationFailed.field("body", "give at least one field to change")
    for name, value in changes.items():
        if value is None and name not in NULLABLE:
            raise ValidationFailed.field(name, "cannot be null")
    async with db.write() as conn:
        row = await found_batch(conn, org_id, batch_id, lock=True)
        require_status(row, EDITABLE_STATUSES, "edited")
        config = replace(_config_of(row), **changes)
        check_config(config)
        values = {k: v for k, v in _config_values(config).items() if k in changes}
        if "phone_number_ids" in changes:
            values["phone_number_ids"] = await number_pool(
                conn, org_id, config.agent_id, config.phone_number_ids
            )
        await conn.execute(
            batch_calls.update()
            .where(batch_calls.c.id == row["id"])
            .values(updated_at=utcnow(), **values)
        )
        return await read_batch(conn, await found_batch(conn, org_id, batch_id))


def require_status(row: sa.RowMapping, allowed: frozenset[BatchStatus], what: str) -> None:
    if BatchStatus(row["status"]) not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise Conflict(
            f"A {row['status']} batch cannot be {what} (only {names})",
            {"status": row["status"]},
        )


async def add_contacts(
    db: Database, org_id: str, batch_id: str, items: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Add inline contacts to a draft, scheduled or paused batch: ``(added, failed)``; a
    contact is failed when it is invalid or its number is already in the batch. A scheduled
    batch calls them too."""
    if not items:
        raise ValidationFailed.field("contacts", "give at least one contact")
    valid: list[dict[str, Any]] = []
    for item in items:
        try:
            valid += batch_contacts.check_inline([item])
        except ValidationFailed:
            continue
    async with db.write() as conn:
        row = await found_batch(conn, org_id, batch_id, lock=True)
        require_status(row, EDITABLE_STATUSES, "given contacts")
        added = await batch_contacts.insert(conn, row["id"], org_id, valid) if valid else 0
    return added, len(items) - added


async def list_contacts(
    db: Database, org_id: str, batch_id: str, status: str | None, limit: int, offset: int
) -> tuple[list[batch_contacts.BatchContact], int]:
    async with db.read() as conn:
        row = await found_batch(conn, org_id, batch_id)
        return await batch_contacts.list_page(conn, row["id"], status, limit, offset)


async def analytics(db: Database, org_id: str, batch_id: str) -> batch_contacts.Analytics:
    async with db.read() as conn:
        row = await found_batch(conn, org_id, batch_id)
        return await batch_contacts.analytics(conn, row["id"])
