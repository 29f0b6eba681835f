"""Agents: the prompt, model, voice and call limits a call runs with.

Every function is scoped to one organization: another organization's agent, like an unknown
or malformed id, is :class:`NotFound`. The rules on field values are checked here, whoever the
caller is (API, CLI); the API schemas repeat the simple ones so OpenAPI documents them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.crypto import SecretBox
from voxline.domain.agents import (
    DEFAULT_JOIN_TIMEOUT,
    DEFAULT_LANGUAGE_HINT,
    DEFAULT_MAX_DURATION,
    DEFAULT_TEMPERATURE,
    AgentStatus,
    checked_values,
)
from voxline.domain.calls import ACTIVE_STATUSES
from voxline.errors import Conflict, NotFound, ValidationFailed
from voxline.services import idempotency
from voxline.services.agent_tools import ToolLink, links_of, save_agent_tools
from voxline.services.tool_secrets import box_for
from voxline.storage.db import Database
from voxline.storage.tables import agents, calls, phone_numbers
from voxline.storage.types import utcnow
from voxline.voice.voices import find_voice

CREATE_ENDPOINT = "POST /agents"
SCRIPTED_MODEL = "scripted"


@dataclass(frozen=True, slots=True)
class NumberRef:
    id: str
    phone_number: str


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    name: str
    description: str | None
    system_prompt: str
    greeting: str | None
    model: str
    voice_id: str | None
    temperature: float
    language_hint: str | None
    recording_enabled: bool
    dnc_on_request: bool
    join_timeout_seconds: float
    max_duration_seconds: float
    status: AgentStatus
    created_at: datetime
    updated_at: datetime
    inbound_numbers: tuple[NumberRef, ...] = ()
    outbound_numbers: tuple[NumberRef, ...] = ()
    tools: tuple[ToolLink, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentDraft:
    """A new agent as a client describes it; ``model=None`` means the deployment's default.
    ``tools`` are the client's entries, checked when saved (see :mod:`voxline.domain.agent_tools`).
    """

    name: str
    system_prompt: str
    description: str | None = None
    greeting: str | None = None
    model: str | None = None
    voice_id: str | None = None
    temperature: float = DEFAULT_TEMPERATURE
    language_hint: str = DEFAULT_LANGUAGE_HINT
    recording_enabled: bool = True
    dnc_on_request: bool = False
    join_timeout: str = DEFAULT_JOIN_TIMEOUT
    max_duration: str = DEFAULT_MAX_DURATION
    status: AgentStatus = AgentStatus.ACTIVE
    tools: Sequence[Any] = ()


class Unset(Enum):
    """Marks a field an update leaves as it is."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True, slots=True)
class AgentChanges:
    """A partial update: only the fields not ``UNSET`` change."""

    name: str | Unset = UNSET
    system_prompt: str | Unset = UNSET
    description: str | Unset | None = UNSET
    greeting: str | Unset | None = UNSET
    model: str | Unset = UNSET
    voice_id: str | Unset | None = UNSET
    temperature: float | Unset = UNSET
    language_hint: str | Unset = UNSET
    recording_enabled: bool | Unset = UNSET
    dnc_on_request: bool | Unset = UNSET
    join_timeout: str | Unset = UNSET
    max_duration: str | Unset = UNSET
    status: AgentStatus | Unset = UNSET
    tools: Sequence[Any] | Unset = UNSET  # replaces the agent's tools


@dataclass(frozen=True, slots=True)
class AgentPage:
    items: list[Agent]
    total: int


@dataclass(frozen=True, slots=True)
class CreatedAgent:
    """The stored response of a create: ``replayed`` when an idempotency key repeated it."""

    body: Any
    replayed: bool = False


def default_model(settings: Settings) -> str:
    """The model of agents created without one: the configured LLM, else the scripted brain."""
    if settings.llm_base_url and settings.llm_model:
        return settings.llm_model
    return SCRIPTED_MODEL


def _checked(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The values to store for the given (field, value) pairs, or :class:`ValidationFailed`."""
    values = checked_values(pairs)
    voice_id = values.get("voice_id")
    if voice_id is not None and find_voice(voice_id) is None:
        raise ValidationFailed.field("voice_id", "unknown voice; see GET /voices")
    return values


# --- reading ----------------------------------------------------------------------------------


def _agent_id(value: str) -> str | None:
    """The canonical form of an id, or None when it cannot name any agent."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _from_row(
    row: sa.Row[Any],
    numbers: dict[str, dict[str, list[NumberRef]]],
    links: dict[str, list[ToolLink]],
) -> Agent:
    m = row._mapping
    mine = numbers.get(m["id"], {})
    return Agent(
        id=m["id"],
        name=m["name"],
        description=m["description"],
        system_prompt=m["system_prompt"],
        greeting=m["greeting"],
        model=m["model"],
        voice_id=m["voice_id"],
        temperature=m["temperature"],
        language_hint=m["language_hint"],
        recording_enabled=m["recording_enabled"],
        dnc_on_request=m["dnc_on_request"],
        join_timeout_seconds=m["join_timeout_seconds"],
        max_duration_seconds=m["max_duration_seconds"],
        status=AgentStatus(m["status"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        inbound_numbers=tuple(mine.get("inbound", ())),
        outbound_numbers=tuple(mine.get("outbound", ())),
        tools=tuple(links.get(m["id"], ())),
    )


async def _numbers_of(
    conn: AsyncConnection, org_id: str, agent_ids: list[str]
) -> dict[str, dict[str, list[NumberRef]]]:
    """The numbers assigned to each of ``agent_ids``, by direction, in one query."""
    if not agent_ids:
        return {}
    pn = phone_numbers.c
    rows = await conn.execute(
        sa.select(pn.id, pn.phone_number, pn.inbound_agent_id, pn.outbound_agent_id)
        .where(pn.organization_id == org_id)
        .where(pn.inbound_agent_id.in_(agent_ids) | pn.outbound_agent_id.in_(agent_ids))
        .order_by(pn.phone_number)
    )
    found: dict[str, dict[str, list[NumberRef]]] = {}
    for row in rows:
        ref = NumberRef(row.id, row.phone_number)
        if row.inbound_agent_id is not None:
            found.setdefault(row.inbound_agent_id, {}).setdefault("inbound", []).append(ref)
        if row.outbound_agent_id is not None:
            found.setdefault(row.outbound_agent_id, {}).setdefault("outbound", []).append(ref)
    return found


async def load_agent(conn: AsyncConnection, org_id: str, agent_id: str) -> Agent:
    """The organization's agent with its numbers, in the caller's transaction."""
    canonical = _agent_id(agent_id)
    row = None
    if canonical is not None:
        query = sa.select(agents).where(
            (agents.c.id == canonical) & (agents.c.organization_id == org_id)
        )
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.resource("Agent", agent_id if canonical else None)
    return _from_row(row, await _numbers_of(conn, org_id, [row.id]), await links_of(conn, [row.id]))


async def get_agent(db: Database, org_id: str, agent_id: str) -> Agent:
    async with db.read() as conn:
        return await load_agent(conn, org_id, agent_id)


async def list_agents(
    db: Database,
    org_id: str,
    *,
    status: AgentStatus | None = None,
    name: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AgentPage:
    """A page of the organization's agents, newest first; ``name`` matches any part of the
    name, ignoring case."""
    where = agents.c.organization_id == org_id
    if status is not None:
        where &= agents.c.status == status.value
    if name:
        where &= agents.c.name.icontains(name, autoescape=True)
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(agents).where(where))
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(agents)
                .where(where)
                .order_by(agents.c.created_at.desc(), agents.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        ids = [row.id for row in rows]
        numbers = await _numbers_of(conn, org_id, ids)
        links = await links_of(conn, ids)
    return AgentPage([_from_row(row, numbers, links) for row in rows], int(total))


# --- writing ----------------------------------------------------------------------------------


async def insert_agent(
    conn: AsyncConnection, org_id: str, draft: AgentDraft, *, model: str, box: SecretBox
) -> Agent:
    """Create an agent in the caller's transaction; ``model`` fills in a draft without one,
    ``box`` seals the secrets of its tools' overrides."""
    values = _checked(
        [
            (f.name, getattr(draft, f.name))
            for f in fields(draft)
            if f.name != "tools" and (f.name != "model" or draft.model is not None)
        ]
    )
    values.setdefault("model", model)
    now = utcnow()
    agent_id = str(uuid.uuid4())
    await conn.execute(
        agents.insert().values(
            id=agent_id, organization_id=org_id, created_at=now, updated_at=now, **values
        )
    )
    if draft.tools:
        await save_agent_tools(conn, box, org_id, agent_id, draft.tools)
    return await load_agent(conn, org_id, agent_id)


async def create_agent(
    db: Database,
    settings: Settings,
    org_id: str,
    draft: AgentDraft,
    *,
    render: Callable[[Agent], Any],
    idempotency_key: str | None = None,
    payload: Any = None,
) -> CreatedAgent:
    """Create an agent and return ``render(agent)``, the JSON body of the response.

    With an ``idempotency_key``, the same key and ``payload`` (the request body) return the
    body stored the first time and create nothing; the same key with another payload is a
    :class:`Conflict` (see :mod:`voxline.services.idempotency`).
    """
    model = default_model(settings)
    box = box_for(settings)

    async def action(conn: AsyncConnection) -> tuple[int, Any]:
        return 201, render(await insert_agent(conn, org_id, draft, model=model, box=box))

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
    return CreatedAgent(outcome.body, outcome.replayed)


async def update_agent(
    db: Database, settings: Settings, org_id: str, agent_id: str, changes: AgentChanges
) -> Agent:
    """Apply the fields of ``changes`` that are set; ``updated_at`` always moves. Given
    ``tools`` replace the agent's tools."""
    pairs = [
        (f.name, value)
        for f in fields(changes)
        if f.name != "tools" and (value := getattr(changes, f.name)) is not UNSET
    ]
    values = _checked(pairs)
    async with db.write() as conn:
        current = await load_agent(conn, org_id, agent_id)
        if not isinstance(changes.tools, Unset):
            await save_agent_tools(conn, box_for(settings), org_id, current.id, changes.tools)
        await conn.execute(
            agents.update()
            .where(agents.c.id == current.id)
            .values(**values, updated_at=max(utcnow(), current.updated_at))
        )
        return await load_agent(conn, org_id, current.id)


async def delete_agent(db: Database, org_id: str, agent_id: str) -> str:
    """Delete an agent that has no active call and unassign its numbers; returns its id.

    Its calls stay, for history. The agent row is locked first, so a call created meanwhile
    (which reads the agent) cannot slip in between the check and the delete.
    """
    canonical = _agent_id(agent_id)
    if canonical is None:
        raise NotFound.resource("Agent")
    async with db.write() as conn:
        lock = sa.select(agents.c.id).where(
            (agents.c.id == canonical) & (agents.c.organization_id == org_id)
        )
        if conn.dialect.name != "sqlite":
            lock = lock.with_for_update()
        if (await conn.execute(lock)).first() is None:
            raise NotFound.resource("Agent", agent_id)
        active = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(calls)
                .where(
                    (calls.c.organization_id == org_id)
                    & (calls.c.agent_id == canonical)
                    & calls.c.status.in_([s.value for s in ACTIVE_STATUSES])
                )
            )
        ).scalar_one()
        if active:
            raise Conflict(
                "Agent has active calls; wait for them to end before deleting it",
                {"active_calls": int(active)},
            )
        now = utcnow()
        for column in (phone_numbers.c.inbound_agent_id, phone_numbers.c.outbound_agent_id):
            await conn.execute(
                phone_numbers.update()
                .where(column == canonical)
                .values({column.name: None, "updated_at": now})
            )
        await conn.execute(agents.delete().where(agents.c.id == canonical))
    return canonical
