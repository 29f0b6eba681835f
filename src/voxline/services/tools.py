"""Tools: the HTTP tools an organization defines for its agents to call during calls.

Every function is scoped to one organization: another organization's tool, like an unknown or
malformed id, is :class:`NotFound`. A definition is checked by
:mod:`voxline.domain.tool_definitions` and kept in its canonical form, except for secrets.

The value of each static ``header`` parameter is a secret, sealed before it is stored and
shown masked (see :mod:`voxline.services.tool_secrets`); nothing here logs a definition.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.domain.tool_definitions import check_tool_name, parse_definition
from voxline.errors import Conflict, NotFound, ValidationFailed
from voxline.services import idempotency
from voxline.services.agents import UNSET, Unset
from voxline.services.tool_secrets import box_for, public_definition, seal_definition
from voxline.storage.db import Database
from voxline.storage.tables import agent_tools, tools
from voxline.storage.types import utcnow

CREATE_ENDPOINT = "POST /tools"


@dataclass(frozen=True, slots=True)
class Tool:
    """A tool as clients see it: ``definition`` canonical with its secrets masked, or
    ``None`` for a placeholder."""

    id: str
    name: str
    definition: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ToolChanges:
    """A PATCH: only the fields not ``UNSET`` change; ``definition`` replaces the whole
    definition (a masked secret in it keeps the stored one)."""

    name: str | Unset = UNSET
    definition: Any = UNSET


@dataclass(frozen=True, slots=True)
class ToolPage:
    items: list[Tool]
    total: int


@dataclass(frozen=True, slots=True)
class CreatedTool:
    """The stored response of a create: ``replayed`` when an idempotency key repeated it."""

    body: Any
    replayed: bool = False


# --- reading ----------------------------------------------------------------------------------


def _tool_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None


def _from_row(row: sa.RowMapping) -> Tool:
    return Tool(
        id=row["id"],
        name=row["name"],
        definition=public_definition(row["definition"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def tool_row(
    conn: AsyncConnection, org_id: str, tool_id: str, *, lock: bool = False
) -> sa.RowMapping:
    """The organization's tool row (locked on PostgreSQL with ``lock``), or NotFound."""
    canonical = _tool_id(tool_id)
    if canonical is None:
        raise NotFound.resource("Tool")
    query = sa.select(tools).where((tools.c.id == canonical) & (tools.c.organization_id == org_id))
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.resource("Tool", canonical)
    mapping: sa.RowMapping = row._mapping
    return mapping


async def get_tool(db: Database, org_id: str, tool_id: str) -> Tool:
    async with db.read() as conn:
        return _from_row(await tool_row(conn, org_id, tool_id))


async def list_tools(
    db: Database, org_id: str, *, name: str | None = None, limit: int = 50, offset: int = 0
) -> ToolPage:
    """A page of the organization's tools, newest first; ``name`` matches any part of the
    name, ignoring case."""
    where = tools.c.organization_id == org_id
    if name:
        where &= tools.c.name.icontains(name, autoescape=True)
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(tools).where(where))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(tools)
                .where(where)
                .order_by(tools.c.created_at.desc(), tools.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return ToolPage([_from_row(row._mapping) for row in rows], int(total))


async def _model_name_clash(conn: AsyncConnection, tool_id: str, model_name: str) -> int:
    """How many agents use this tool beside another tool already called ``model_name``."""
    mine, theirs = agent_tools.alias(), agent_tools.alias()
    rows = await conn.execute(
        sa.select(mine.c.agent_id, tools.c.definition)
        .select_from(
            mine.join(theirs, theirs.c.agent_id == mine.c.agent_id).join(
                tools, tools.c.id == theirs.c.tool_id
            )
        )
        .where((mine.c.tool_id == tool_id) & (theirs.c.tool_id != tool_id))
    )
    return len(
        {row.agent_id for row in rows if (row.definition or {}).get("modelToolName") == model_name}
    )


async def _agents_using(conn: AsyncConnection, tool_id: str) -> int:
    query = (
        sa.select(sa.func.count()).select_from(agent_tools).where(agent_tools.c.tool_id == tool_id)
    )
    return int((await conn.execute(query)).scalar_one())


# --- writing ----------------------------------------------------------------------------------


def _checked_create(name: str | None, definition: Any) -> tuple[str, dict[str, Any] | None]:
    """The name and canonical definition of a new tool (``None``: a placeholder)."""
    if name is None:
        given = definition.get("modelToolName") if isinstance(definition, Mapping) else None
        if given is None:
            raise ValidationFailed.field(
                "name", "is required unless definition.modelToolName is given"
            )
    checked_name = None if name is None else check_tool_name(name)
    canonical = None if definition is None else parse_definition(definition, name=checked_name)
    if checked_name is None:
        assert canonical is not None
        checked_name = canonical["modelToolName"]
    return checked_name, canonical


async def create_tool(
    db: Database,
    settings: Settings,
    org_id: str,
    *,
    name: str | None,
    definition: Any = None,
    render: Callable[[Tool], Any],
    idempotency_key: str | None = None,
    payload: Any = None,
) -> CreatedTool:
    """Create a tool and return ``render(tool)``, the JSON body of the response; without a
    definition, a placeholder. The idempotency key works as for agents
    (:func:`voxline.services.agents.create_agent`)."""
    checked_name, canonical = _checked_create(name, definition)
    stored = None if canonical is None else seal_definition(canonical, box_for(settings), None)

    async def action(conn: AsyncConnection) -> tuple[int, Any]:
        now = utcnow()
        tool_id = str(uuid.uuid4())
        await conn.execute(
            tools.insert().values(
                id=tool_id,
                organization_id=org_id,
                name=checked_name,
                definition=stored,
                created_at=now,
                updated_at=now,
            )
        )
        return 201, render(_from_row(await tool_row(conn, org_id, tool_id)))

    outcome = await idempotency.execute(
        db,
        org_id=org_id,
        endpoint=CREATE_ENDPOINT,
        key=idempotency_key,
        payload=payload,
        ttl_seconds=settings.idempotency_ttl_seconds,
        action=action,
        hash_key=settings.resolved_secret_key(),
    )
    return CreatedTool(outcome.body, outcome.replayed)


async def update_tool(
    db: Database, settings: Settings, org_id: str, tool_id: str, changes: ToolChanges
) -> Tool:
    """Apply the fields of ``changes`` that are set; ``updated_at`` always moves.

    While agents use the tool, a definition without ``http``, or whose ``modelToolName`` is
    that of another of their tools, is refused (:class:`Conflict`).
    """
    box = box_for(settings)
    async with db.write() as conn:
        row = await tool_row(conn, org_id, tool_id, lock=True)
        values: dict[str, Any] = {}
        name: str = row["name"]
        if not isinstance(changes.name, Unset):
            name = values["name"] = check_tool_name(changes.name)
        if changes.definition is not UNSET:
            if changes.definition is None:
                raise ValidationFailed.field(
                    "definition", "must be an object; it cannot be removed"
                )
            canonical = parse_definition(changes.definition, name=name)
            stored = seal_definition(canonical, box, row["definition"])
            if stored["http"] is None and (used := await _agents_using(conn, row["id"])):
                raise Conflict("Agents use this tool: its definition needs http", {"agents": used})
            name_before = (row["definition"] or {}).get("modelToolName")
            if stored["modelToolName"] != name_before and (
                clash := await _model_name_clash(conn, row["id"], stored["modelToolName"])
            ):
                raise Conflict(
                    "An agent using this tool has another tool of that modelToolName",
                    {"agents": clash},
                )
            values["definition"] = stored
        await conn.execute(
            tools.update()
            .where(tools.c.id == row["id"])
            .values(**values, updated_at=max(utcnow(), row["updated_at"]))
        )
        return _from_row(await tool_row(conn, org_id, row["id"]))


async def delete_tool(db: Database, org_id: str, tool_id: str) -> str:
    """Delete a tool no agent uses; returns its id. A tool in use is a :class:`Conflict`
    (the database's RESTRICT key refuses it too)."""
    in_use = "Agents use this tool; remove it from them first"
    try:
        async with db.write() as conn:
            row = await tool_row(conn, org_id, tool_id, lock=True)
            used = await _agents_using(conn, row["id"])
            if used:
                raise Conflict(in_use, {"agents": used})
            await conn.execute(tools.delete().where(tools.c.id == row["id"]))
    except IntegrityError:
        raise Conflict(in_use) from None
    return str(row["id"])
