"""The tools an agent enables: saving them with the agent, showing them, loading them for a call.

An agent's entries are checked by :mod:`voxline.domain.agent_tools`; here each reference to a
tool is resolved among the organization's tools (a name to the tool's id, so renaming the tool
later breaks nothing) and the entries are written, in order, to ``agent_tools``. Static header
values in overrides are sealed as in tools (:mod:`voxline.services.tool_secrets`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.crypto import SecretBox
from voxline.domain.agent_tools import (
    ToolChoice,
    agent_tools_of,
    apply_overrides,
    check_distinct,
    check_static_overrides,
    parse_tool_choices,
)
from voxline.domain.tool_definitions import http_tool_of
from voxline.domain.tools import AgentTools, BuiltinTool, HttpTool
from voxline.errors import Conflict, ValidationFailed
from voxline.services.tool_secrets import (
    box_for,
    mask_parameters,
    open_parameters,
    opened_definition,
    seal_parameters,
)
from voxline.storage.db import Database
from voxline.storage.tables import agent_tools, tools


@dataclass(frozen=True, slots=True)
class ToolLink:
    """An entry of an agent's tools as clients see it: the tool (``tool_id`` is ``None`` for
    a built-in), its current name and the agent's overrides, secrets masked."""

    tool_id: str | None
    name: str
    overrides: dict[str, Any]


def _masked(overrides: Mapping[str, Any]) -> dict[str, Any]:
    if "staticParameters" not in overrides:
        return dict(overrides)
    return {**overrides, "staticParameters": mask_parameters(overrides["staticParameters"])}


def _opened(overrides: Mapping[str, Any], box: SecretBox) -> dict[str, Any]:
    if "staticParameters" not in overrides:
        return dict(overrides)
    return {**overrides, "staticParameters": open_parameters(overrides["staticParameters"], box)}


async def links_of(conn: AsyncConnection, agent_ids: Sequence[str]) -> dict[str, list[ToolLink]]:
    """The tools of each of ``agent_ids``, in order, in one query."""
    if not agent_ids:
        return {}
    rows = await conn.execute(
        sa.select(
            agent_tools.c.agent_id,
            agent_tools.c.tool_id,
            agent_tools.c.builtin,
            agent_tools.c.overrides,
            tools.c.name,
        )
        .select_from(agent_tools.outerjoin(tools, tools.c.id == agent_tools.c.tool_id))
        .where(agent_tools.c.agent_id.in_(agent_ids))
        .order_by(agent_tools.c.agent_id, agent_tools.c.position)
    )
    found: dict[str, list[ToolLink]] = {}
    for row in rows:
        link = ToolLink(
            tool_id=row.tool_id,
            name=row.name if row.tool_id is not None else row.builtin,
            overrides=_masked(row.overrides or {}),
        )
        found.setdefault(row.agent_id, []).append(link)
    return found


# --- saving -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: str
    name: str
    definition: Mapping[str, Any] | None


async def _candidates(
    conn: AsyncConnection, org_id: str, choices: Sequence[ToolChoice]
) -> list[_Candidate]:
    """The organization's tools the choices may mean: those of the ids given, and every tool
    when a choice names one (names are matched in Python: ``modelToolName`` is inside JSON)."""
    ids = [c.tool_id for c in choices if c.tool_id is not None]
    by_name = any(c.name is not None for c in choices)
    if not ids and not by_name:
        return []
    where = tools.c.organization_id == org_id
    if not by_name:
        where &= tools.c.id.in_(ids)
    rows = await conn.execute(
        sa.select(tools.c.id, tools.c.name, tools.c.definition)
        .where(where)
        .order_by(tools.c.created_at, tools.c.id)
    )
    return [_Candidate(row.id, row.name, row.definition) for row in rows]


def _resolve(choice: ToolChoice, candidates: Sequence[_Candidate]) -> _Candidate:
    if choice.tool_id is not None:
        found = [c for c in candidates if c.id == choice.tool_id]
        if not found:
            raise ValidationFailed.field(choice.path, "no tool of this organization has this id")
        return found[0]
    found = [c for c in candidates if c.name == choice.name]
    if not found:
        found = [c for c in candidates if (c.definition or {}).get("modelToolName") == choice.name]
    if not found:
        raise ValidationFailed.field(
            choice.path, "is neither a built-in tool nor a tool of this organization"
        )
    if len(found) > 1:
        raise ValidationFailed.field(
            choice.path, "names more than one tool of this organization; give its tool_id"
        )
    return found[0]


async def save_agent_tools(
    conn: AsyncConnection, box: SecretBox, org_id: str, agent_id: str, raw: object
) -> None:
    """Replace the agent's tools with the client's entries ``raw``, in the caller's
    transaction. A masked override keeps the one the agent had for that tool."""
    choices = parse_tool_choices(raw)
    candidates = await _candidates(conn, org_id, choices)
    previous = {
        row.tool_id: row.overrides or {}
        for row in await conn.execute(
            sa.select(agent_tools.c.tool_id, agent_tools.c.overrides).where(
                (agent_tools.c.agent_id == agent_id) & agent_tools.c.tool_id.is_not(None)
            )
        )
    }
    rows: list[dict[str, Any]] = []
    distinct: list[tuple[str, str, str]] = []
    for position, choice in enumerate(choices):
        row: dict[str, Any] = {"agent_id": agent_id, "position": position}
        if choice.builtin is not None:
            builtin = {"tool_id": None, "builtin": choice.builtin.value}
            rows.append({**row, **builtin, "overrides": dict(choice.overrides)})
            continue
        tool = _resolve(choice, candidates)
        if not tool.definition or not tool.definition.get("http"):
            raise ValidationFailed.field(
                choice.path, "this tool has no http definition yet; give it one to enable it"
            )
        overrides = check_static_overrides(
            choice.overrides, tool.definition, f"{choice.path}.overrides"
        )
        if "staticParameters" in overrides:
            overrides["staticParameters"] = seal_parameters(
                overrides["staticParameters"],
                box,
                previous.get(tool.id, {}).get("staticParameters") or [],
                f"{choice.path}.overrides.staticParameters",
            )
        distinct.append((choice.path, tool.id, tool.definition["modelToolName"]))
        rows.append({**row, "tool_id": tool.id, "builtin": None, "overrides": overrides})
    check_distinct(distinct)
    await conn.execute(agent_tools.delete().where(agent_tools.c.agent_id == agent_id))
    if rows:
        try:
            await conn.execute(agent_tools.insert(), rows)
        except IntegrityError:
            # A tool deleted by a concurrent request after it was read here.
            raise Conflict("A tool was deleted while the agent was saved; retry") from None


# --- for a call -------------------------------------------------------------------------------


async def load_agent_tools(db: Database, agent_id: str, *, settings: Settings) -> AgentTools:
    """Everything the agent may call during a call: its HTTP tools with their overrides
    applied and header secrets opened (``tool_id`` set), and its built-ins' settings.

    Nothing is rendered: ``{{variables}}`` in messages are the caller's to fill in. An agent
    with no tools (or no such agent) gets an empty :class:`AgentTools`.
    """
    box = box_for(settings)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    agent_tools.c.tool_id,
                    agent_tools.c.builtin,
                    agent_tools.c.overrides,
                    tools.c.definition,
                )
                .select_from(agent_tools.outerjoin(tools, tools.c.id == agent_tools.c.tool_id))
                .where(agent_tools.c.agent_id == agent_id)
                .order_by(agent_tools.c.position)
            )
        ).all()
    http: list[HttpTool] = []
    builtins: list[tuple[BuiltinTool, Mapping[str, Any]]] = []
    for row in rows:
        overrides = row.overrides or {}
        if row.builtin is not None:
            builtins.append((BuiltinTool(row.builtin), overrides))
            continue
        definition = opened_definition(row.definition, box)
        tool = None if definition is None else http_tool_of(definition, tool_id=row.tool_id)
        if tool is not None:  # a tool in use keeps its http (services.tools refuses otherwise)
            http.append(apply_overrides(tool, _opened(overrides, box)))
    return agent_tools_of(http, builtins)
