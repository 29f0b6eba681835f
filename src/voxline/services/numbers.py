"""Phone numbers an organization holds: buy, import, assign to agents, release.

Contracts shared by every function here:

- A number belongs to one organization; another organization's number is reported as not
  found. A phone number exists at most once across all organizations (it routes inbound calls
  to exactly one of them): adding one the organization holds already is a :class:`Conflict`;
  one another organization holds is simply not available (:class:`ValidationFailed`, as for
  a number not on offer), which does not say that someone has it.
- For each direction (inbound, outbound) a number is assigned to at most one agent; assigning
  it again moves it.
- Only the sandbox carrier sells numbers for now (see :mod:`voxline.services.inventory` for
  the search); the other providers' numbers are imported with the organization's own provider
  account (bring your own carrier).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.domain.phone import is_e164
from voxline.errors import Conflict, NotFound, ValidationFailed
from voxline.logging import get_logger
from voxline.services.credentials import save_credential
from voxline.storage.db import Database
from voxline.storage.tables import agents, phone_numbers
from voxline.storage.types import utcnow
from voxline.telephony.credentials import (
    CredentialInput,
    ProviderType,
    parse_credentials,
    parse_provider,
)
from voxline.telephony.sandbox import numbers as sandbox_numbers

log = get_logger("services.numbers")

MAX_FRIENDLY_NAME = 200


class AssignmentType(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class NumberStatus(StrEnum):
    ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    id: str
    phone_number: str
    provider_type: ProviderType
    friendly_name: str | None
    status: NumberStatus
    is_managed: bool
    credential_id: str | None
    inbound_agent_id: str | None
    outbound_agent_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AgentNumbers:
    inbound: list[PhoneNumber]
    outbound: list[PhoneNumber]


def _from_row(row: sa.Row[Any]) -> PhoneNumber:
    m = row._mapping
    return PhoneNumber(
        id=m["id"],
        phone_number=m["phone_number"],
        provider_type=ProviderType(m["provider_type"]),
        friendly_name=m["friendly_name"],
        status=NumberStatus(m["status"]),
        is_managed=bool(m["is_managed"]),
        credential_id=m["credential_id"],
        inbound_agent_id=m["inbound_agent_id"],
        outbound_agent_id=m["outbound_agent_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def _assignment(value: AssignmentType | str) -> AssignmentType:
    try:
        return AssignmentType(value)
    except ValueError:
        raise ValidationFailed.field("assignment_type", "must be inbound or outbound") from None


def _check_phone(phone_number: str) -> str:
    if not is_e164(phone_number):
        raise ValidationFailed.field("phone_number", "Must be in E.164 format")
    return phone_number


def _check_name(friendly_name: str | None) -> str | None:
    name = (friendly_name or "").strip()
    if len(name) > MAX_FRIENDLY_NAME:
        raise ValidationFailed.field("friendly_name", f"at most {MAX_FRIENDLY_NAME} characters")
    return name or None


def _id(value: str) -> str | None:
    """The canonical form of a UUID, or ``None`` when ``value`` cannot be an id."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


async def _load(conn: AsyncConnection, org_id: str, number_id: str) -> PhoneNumber:
    canonical = _id(number_id)
    row = None
    if canonical is not None:
        query = sa.select(phone_numbers).where(
            (phone_numbers.c.id == canonical) & (phone_numbers.c.organization_id == org_id)
        )
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.resource("Phone number", number_id)
    return _from_row(row)


async def _require_agent(
    conn: AsyncConnection, org_id: str, agent_id: str, *, lock: bool = False
) -> str:
    """The agent's canonical id; with ``lock``, the agent cannot be deleted before commit."""
    canonical = _id(agent_id)
    found = None
    if canonical is not None:
        query = sa.select(agents.c.id).where(
            (agents.c.id == canonical) & (agents.c.organization_id == org_id)
        )
        if lock:
            # FOR SHARE on PostgreSQL (SQLite's write lock already covers it): a concurrent
            # delete of the agent waits for us, then its SET NULL clears our assignment.
            query = query.with_for_update(read=True)
        found = (await conn.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound.resource("Agent", agent_id)
    return str(found)


async def _refuse_held(
    conn: AsyncConnection, org_id: str, phone_number: str, *, is_managed: bool
) -> None:
    """Raise when ``phone_number`` is held already: :class:`Conflict` by this organization,
    :class:`ValidationFailed` ("not available", nothing more) by another one."""
    holder = (
        await conn.execute(
            sa.select(phone_numbers.c.organization_id).where(
                phone_numbers.c.phone_number == phone_number
            )
        )
    ).scalar_one_or_none()
    if holder is None:
        return
    if holder == org_id:
        raise Conflict("Phone number already exists", {"field": "phone_number"})
    action = "purchase" if is_managed else "import"
    raise ValidationFailed.field("phone_number", f"not available for {action}")


async def _add_number(
    db: Database,
    settings: Settings,
    org_id: str,
    phone_number: str,
    provider_type: ProviderType,
    *,
    is_managed: bool,
    friendly_name: str | None,
    credential: CredentialInput | None = None,
) -> PhoneNumber:
    """Insert a number (and store its credential) in one transaction; 409 if the
    organization holds it already, 422 (not available) if another one does."""
    now = utcnow()
    number_id = str(uuid.uuid4())
    try:
        async with db.write() as conn:
            await _refuse_held(conn, org_id, phone_number, is_managed=is_managed)
            credential_id = None
            if credential is not None:
                credential_id = await save_credential(conn, settings, org_id, credential)
            await conn.execute(
                phone_numbers.insert().values(
                    id=number_id,
                    organization_id=org_id,
                    phone_number=phone_number,
                    provider_type=provider_type.value,
                    credential_id=credential_id,
                    provider_number_id=None,
                    friendly_name=friendly_name,
                    status=NumberStatus.ACTIVE.value,
                    is_managed=is_managed,
                    inbound_agent_id=None,
                    outbound_agent_id=None,
                    created_at=now,
                    updated_at=now,
                )
            )
            number = await _load(conn, org_id, number_id)
    except IntegrityError:
        # Another request added the same number between our check and our insert.
        async with db.read() as conn:
            await _refuse_held(conn, org_id, phone_number, is_managed=is_managed)
        raise Conflict("Phone number already exists", {"field": "phone_number"}) from None
    log.info(
        "phone number added",
        extra={"number_id": number.id, "provider_type": provider_type.value, "managed": is_managed},
    )
    return number


async def purchase_number(
    db: Database,
    settings: Settings,
    org_id: str,
    phone_number: str,
    provider_type: ProviderType | str = ProviderType.SANDBOX,
    *,
    friendly_name: str | None = None,
) -> PhoneNumber:
    """Buy a number for the organization; it is managed by Voxline (``is_managed``).

    The sandbox sells any free number of its range at no cost. Other providers cannot sell
    through Voxline yet (422); import their numbers instead.
    """
    provider = parse_provider(provider_type)
    _check_phone(phone_number)
    name = _check_name(friendly_name)
    if provider is not ProviderType.SANDBOX:
        raise ValidationFailed.field("provider_type", "provider not supported for purchase")
    if not sandbox_numbers.in_range(phone_number):
        raise ValidationFailed.field(
            "phone_number", "not sold by the sandbox (its range is +1 NPA 555 1000-1999)"
        )
    return await _add_number(
        db, settings, org_id, phone_number, provider, is_managed=True, friendly_name=name
    )


async def import_number(
    db: Database,
    settings: Settings,
    org_id: str,
    phone_number: str,
    provider_type: ProviderType | str,
    credentials: Mapping[str, str | None] | None = None,
    *,
    friendly_name: str | None = None,
) -> PhoneNumber:
    """Add a number the organization already owns at ``provider_type`` (bring your own carrier).

    ``credentials`` holds that provider's credential fields (see
    :mod:`voxline.telephony.credentials`); secrets are sealed before they are stored, and the
    organization's credential of the same account is reused. The number and its credential
    are written together or not at all.
    """
    provider = parse_provider(provider_type)
    _check_phone(phone_number)
    name = _check_name(friendly_name)
    given = parse_credentials(provider, credentials or {})
    return await _add_number(
        db,
        settings,
        org_id,
        phone_number,
        provider,
        is_managed=False,
        friendly_name=name,
        credential=given,
    )


async def list_numbers(
    db: Database, org_id: str, *, limit: int = 50, offset: int = 0
) -> tuple[list[PhoneNumber], int]:
    """The organization's numbers, newest first, and how many there are in all."""
    where = phone_numbers.c.organization_id == org_id
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(phone_numbers).where(where))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(phone_numbers)
                .where(where)
                .order_by(phone_numbers.c.created_at.desc(), phone_numbers.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return [_from_row(row) for row in rows], int(total)


async def get_number(db: Database, org_id: str, number_id: str) -> PhoneNumber:
    async with db.read() as conn:
        return await _load(conn, org_id, number_id)


async def assign_number(
    db: Database,
    org_id: str,
    number_id: str,
    agent_id: str,
    assignment_type: AssignmentType | str,
) -> PhoneNumber:
    """Give the number to the agent for one direction, taking it from any previous agent."""
    direction = _assignment(assignment_type)
    column = f"{direction.value}_agent_id"
    async with db.write() as conn:
        number = await _load(conn, org_id, number_id)
        agent = await _require_agent(conn, org_id, agent_id, lock=True)
        await conn.execute(
            phone_numbers.update()
            .where(phone_numbers.c.id == number.id)
            .values({column: agent, "updated_at": utcnow()})
        )
        return await _load(conn, org_id, number.id)


async def unassign_number(
    db: Database, org_id: str, number_id: str, assignment_type: AssignmentType | str
) -> PhoneNumber:
    """Take the number away from its agent for one direction (a no-op when it has none)."""
    direction = _assignment(assignment_type)
    column = f"{direction.value}_agent_id"
    async with db.write() as conn:
        number = await _load(conn, org_id, number_id)
        if getattr(number, column) is not None:
            await conn.execute(
                phone_numbers.update()
                .where(phone_numbers.c.id == number.id)
                .values({column: None, "updated_at": utcnow()})
            )
        return await _load(conn, org_id, number.id)


async def release_number(db: Database, org_id: str, number_id: str) -> str:
    """Remove the number from the organization and return its id.

    A sandbox number goes back to the carrier's range (it is free once no row holds it); an
    imported number is only removed from Voxline and stays with the customer's provider. The
    credential it used is kept for the account's other numbers.
    """
    async with db.write() as conn:
        number = await _load(conn, org_id, number_id)
        await conn.execute(phone_numbers.delete().where(phone_numbers.c.id == number.id))
    log.info(
        "phone number released",
        extra={"number_id": number.id, "provider_type": number.provider_type.value},
    )
    return number.id


async def agent_numbers(db: Database, org_id: str, agent_id: str) -> AgentNumbers:
    """The numbers assigned to the agent, per direction, oldest first."""
    async with db.read() as conn:
        agent = await _require_agent(conn, org_id, agent_id)
        rows = (
            await conn.execute(
                sa.select(phone_numbers)
                .where(
                    (phone_numbers.c.organization_id == org_id)
                    & (
                        (phone_numbers.c.inbound_agent_id == agent)
                        | (phone_numbers.c.outbound_agent_id == agent)
                    )
                )
                .order_by(phone_numbers.c.created_at, phone_numbers.c.id)
            )
        ).all()
    numbers = [_from_row(row) for row in rows]
    return AgentNumbers(
        inbound=[n for n in numbers if n.inbound_agent_id == agent],
        outbound=[n for n in numbers if n.outbound_agent_id == agent],
    )
