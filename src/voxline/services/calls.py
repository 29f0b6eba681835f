"""Calls: the use cases that create, change and delete call records.

A call row is also the engine's job (DESIGN §3.2): creating one commits a ``queued`` row whose
``not_before`` is its creation time, with the effective settings the engine obeys stored in
``calls.settings`` (see :class:`voxline.services.call_records.CallSettings`)::

    {"recording_enabled": bool, "transcription_enabled": bool, "greeting": str | null,
     "max_duration_seconds": float, "join_timeout_seconds": float}

Reads (list, get, recording, transcript) live in :mod:`voxline.services.call_queries`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.domain import text as text_policy
from voxline.domain.agents import AgentStatus
from voxline.domain.calls import PLATFORM_CONTEXT_KEYS, CallDirection, CallStatus
from voxline.domain.durations import (
    JOIN_TIMEOUT_BOUNDS,
    MAX_DURATION_BOUNDS,
    Bounds,
    DurationError,
    parse_duration,
)
from voxline.domain.phone import is_e164
from voxline.domain.tools import BuiltinTool
from voxline.errors import Conflict, NotFound, ProviderError, ValidationFailed
from voxline.services import billing, dnc, idempotency
from voxline.services.call_records import (
    Call,
    CallSettings,
    RecordingLinks,
    parse_call_id,
    remove_recording,
    select_call,
    to_call,
)
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.storage.tables import agent_tools, agents, calls, phone_numbers
from voxline.storage.types import utcnow

IDEMPOTENCY_ENDPOINT = "POST /calls"

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class SettingsOverrides:
    """Per-call ``call_settings`` as sent by the client; ``None`` keeps the agent's value."""

    recording_enabled: bool | None = None
    transcription_enabled: bool | None = None
    greeting: str | None = None
    max_duration: str | None = None
    join_timeout: str | None = None


@dataclass(frozen=True, slots=True)
class NewCall:
    """An outbound call to create. ``legacy_context`` is the older name of ``variables``."""

    agent_id: str
    phone_number: str
    from_number: str | None = None
    variables: Mapping[str, Any] | None = None
    legacy_context: Mapping[str, Any] | None = None
    overrides: SettingsOverrides = field(default_factory=SettingsOverrides)


@dataclass(frozen=True, slots=True)
class SettingsChanges:
    """The settings a PATCH may change; ``None`` keeps the current value."""

    recording_enabled: bool | None = None
    transcription_enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class CallChanges:
    """A PATCH: ``context`` is shallow-merged into the call's; ``settings`` replaces flags."""

    context: Mapping[str, Any] | None = None
    settings: SettingsChanges | None = None


# --- creating ------------------------------------------------------------------------------


def normalize_variables(values: Mapping[str, Any], field_name: str) -> dict[str, str]:
    """Template variables as strings: numbers and booleans become their JSON text, ``None``
    the empty string; nested objects and arrays are rejected."""
    result: dict[str, str] = {}
    for key, value in values.items():
        name = f"{field_name}.{key}"
        if isinstance(value, str):
            result[key] = value
        elif value is None:
            result[key] = ""
        elif isinstance(value, bool | int):
            result[key] = json.dumps(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationFailed.field(name, "must be a finite number")
            result[key] = json.dumps(value)
        else:
            raise ValidationFailed.field(name, "must be a string, number, boolean or null")
    return result


def _duration(text: str | None, bounds: Bounds, field_name: str) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text, bounds)
    except DurationError as exc:
        raise ValidationFailed.field(field_name, str(exc)) from None


async def create_call(
    db: Database,
    settings: Settings,
    org_id: str,
    new: NewCall,
    *,
    idempotency_key: str | None,
    render: Callable[[Call], Any],
) -> idempotency.Outcome:
    """Create a queued outbound call in one transaction and return ``(201, render(call))``.

    With an idempotency key, the same key and request give the stored response and create
    nothing; the same key with another request is a 409 (see ``services.idempotency``).
    Raises 404 for an unknown agent, 422 for invalid input, a missing outbound number or a
    number on the do-not-call list (``details.reason = "do_not_call"``, checked in the
    transaction that inserts the call), and 402 when the organization's balance is below
    ``settings.minimum_call_credit()``.
    """
    if new.variables is not None and new.legacy_context is not None:
        raise ValidationFailed.field(
            "context", "is the older name of variables; send only one of them"
        )
    if new.legacy_context is not None:
        variables = normalize_variables(new.legacy_context, "context")
    else:
        variables = normalize_variables(new.variables or {}, "variables")
    if not (new.phone_number.isascii() and is_e164(new.phone_number)):
        raise ValidationFailed.field("phone_number", "must be in E.164 format")
    overrides = new.overrides
    max_duration = _duration(
        overrides.max_duration, MAX_DURATION_BOUNDS, "call_settings.max_duration"
    )
    join_timeout = _duration(
        overrides.join_timeout, JOIN_TIMEOUT_BOUNDS, "call_settings.join_timeout"
    )

    async def action(conn: AsyncConnection) -> tuple[int, Any]:
        agent = await _active_agent(conn, org_id, new.agent_id)
        if await dnc.is_listed(conn, org_id, new.phone_number):
            raise dnc.refusal()
        effective = CallSettings(
            recording_enabled=_pick(overrides.recording_enabled, agent["recording_enabled"]),
            transcription_enabled=_pick(overrides.transcription_enabled, True),
            greeting=_pick(overrides.greeting, agent["greeting"]),
            max_duration_seconds=_pick(max_duration, agent["max_duration_seconds"]),
            join_timeout_seconds=_pick(join_timeout, agent["join_timeout_seconds"]),
            leave_voicemail=await _leaves_voicemail(conn, new.agent_id),
        )
        number = await _outbound_number(conn, org_id, new.agent_id, new.from_number)
        await billing.require_credit(conn, org_id, settings.minimum_call_credit())
        call_id = str(uuid.uuid4())
        now = utcnow()
        await CALL_STORE.insert(
            conn,
            dict(
                id=call_id,
                organization_id=org_id,
                agent_id=new.agent_id,
                direction=CallDirection.OUTBOUND.value,
                status=CallStatus.QUEUED.value,
                phone_number=new.phone_number,
                from_number=number["phone_number"],
                phone_number_id=number["id"],
                provider_type=number["provider_type"],
                variables=variables,
                settings=effective.to_json(),
                context={},
                attempts=0,
                not_before=now,
                created_at=now,
                updated_at=now,
            ),
        )
        row = await select_call(conn, org_id, call_id)
        assert row is not None
        return 201, render(to_call(row, RecordingLinks(settings)))

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


async def store_placement_refusal(
    db: Database, org_id: str, idempotency_key: str, error: ProviderError
) -> None:
    """Keep the 502 that ``POST /calls`` answered as the key's stored response: the call was
    stored (now ``failed``) and then refused by the provider while the request was served."""
    await idempotency.store_final(
        db,
        org_id=org_id,
        endpoint=IDEMPOTENCY_ENDPOINT,
        key=idempotency_key,
        status=error.status,
        body={"error": {"message": error.message, "details": error.details}},
    )


def replayed_refusal(stored: Any) -> ProviderError:
    """The provider error a replayed ``POST /calls`` answers with (see above)."""
    details = dict(stored["error"]["details"])
    error = ProviderError(
        stored["error"]["message"],
        provider=str(details.get("provider", "unknown")),
        retryable=False,
    )
    error.details = details
    return error


def _pick(override: _T | None, default: _T) -> _T:
    return default if override is None else override


async def _leaves_voicemail(conn: AsyncConnection, agent_id: str) -> bool:
    """Whether the agent enabled the ``leave_voicemail`` built-in tool."""
    found = await conn.execute(
        sa.select(agent_tools.c.agent_id).where(
            agent_tools.c.agent_id == agent_id,
            agent_tools.c.builtin == BuiltinTool.LEAVE_VOICEMAIL.value,
        )
    )
    return found.first() is not None


async def _active_agent(conn: AsyncConnection, org_id: str, agent_id: str) -> sa.RowMapping:
    query = sa.select(
        agents.c.status,
        agents.c.greeting,
        agents.c.recording_enabled,
        agents.c.join_timeout_seconds,
        agents.c.max_duration_seconds,
    ).where(agents.c.id == agent_id, agents.c.organization_id == org_id)
    if conn.dialect.name != "sqlite":
        # Shares the lock the agent's deletion takes, so a call cannot be created for an
        # agent that is being deleted (SQLite's write lock already serializes the two).
        query = query.with_for_update(read=True)
    row = (await conn.execute(query)).first()
    if row is None:
        raise _agent_not_found(agent_id)
    if row.status != AgentStatus.ACTIVE:
        raise ValidationFailed(
            "The agent is not active",
            {"field": "agent_id", "reason": "agent_not_active", "agent_status": row.status},
        )
    return row._mapping


def _agent_not_found(agent_id: str) -> NotFound:
    error = NotFound.resource("Agent", agent_id)
    error.details.update({"field": "agent_id", "agent_id": agent_id})
    return error


async def _outbound_number(
    conn: AsyncConnection, org_id: str, agent_id: str, from_number: str | None
) -> sa.RowMapping:
    """The number to call from: ``from_number`` if it is assigned to the agent for outbound,
    else the agent's oldest outbound number."""
    query = (
        sa.select(phone_numbers.c.id, phone_numbers.c.phone_number, phone_numbers.c.provider_type)
        .where(
            phone_numbers.c.organization_id == org_id,
            phone_numbers.c.outbound_agent_id == agent_id,
        )
        .order_by(phone_numbers.c.created_at, phone_numbers.c.id)
        .limit(1)
    )
    if from_number is not None:
        query = query.where(phone_numbers.c.phone_number == from_number)
    row = (await conn.execute(query)).first()
    if row is not None:
        return row._mapping
    if from_number is not None:
        raise ValidationFailed.field(
            "from_number", "must be a number assigned to this agent for outbound calls"
        )
    raise ValidationFailed(
        "The agent has no phone number assigned for outbound calls",
        {"field": "agent_id", "reason": "no_phone_number_configured"},
    )


# --- changing and deleting -----------------------------------------------------------------


def _check_finite(value: Any, field_name: str) -> None:
    """JSON numbers stored on a call must be finite: NaN and infinities are not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailed.field(field_name, "must not contain NaN or infinite numbers")
    if isinstance(value, Mapping):
        for item in value.values():
            _check_finite(item, field_name)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_finite(item, field_name)


async def update_call(
    db: Database, settings: Settings, org_id: str, call_id: str, changes: CallChanges
) -> Call:
    """Apply a PATCH in one transaction. Keys the platform owns (``PLATFORM_CONTEXT_KEYS``)
    cannot be written through ``context``; 422 when there is nothing to change."""
    if changes.context is None and changes.settings is None:
        raise ValidationFailed.field("body", "give context and/or call_settings")
    for key, value in (changes.context or {}).items():
        if key in PLATFORM_CONTEXT_KEYS:
            raise ValidationFailed.field(f"context.{key}", "is reserved for the platform")
        _check_finite(value, f"context.{key}")
    async with db.write() as conn:
        row = await select_call(conn, org_id, call_id, for_update=True)
        if row is None:
            raise NotFound.resource("Call", call_id)
        context: dict[str, Any] | None = None
        stored: dict[str, Any] | None = None
        if changes.context is not None:
            merged = {**(row["context"] or {}), **changes.context}
            try:
                text_policy.check_json_object(merged)
            except text_policy.TextPolicyError as exc:
                # Each PATCH is within the limits; many of them must not add up past them.
                raise ValidationFailed.field("context", exc.reason) from None
            context = merged
        if changes.settings is not None:
            stored = dict(row["settings"] or {})
            for name in ("recording_enabled", "transcription_enabled"):
                flag = getattr(changes.settings, name)
                if flag is not None:
                    stored[name] = flag
        await CALL_STORE.edit(conn, row["id"], context=context, settings=stored)
        updated = await select_call(conn, org_id, row["id"])
        assert updated is not None
        return to_call(updated, RecordingLinks(settings))


async def delete_call(db: Database, settings: Settings, org_id: str, call_id: str) -> str:
    """Delete a terminal call with its transcript and recording file; returns its id.
    404 for an unknown call, 409 for an active one (queued, ringing, in progress)."""
    async with db.write() as conn:
        row = await select_call(conn, org_id, call_id, for_update=True)
        if row is None:
            raise NotFound.resource("Call", call_id)
        if CallStatus(row["status"]).is_active:
            raise Conflict(
                "An active call cannot be deleted; wait until it ends",
                {"status": row["status"]},
            )
        await _delete_rows(conn, [row["id"]])
    await remove_recording(settings, row["id"], row["recording_path"])
    return str(row["id"])


@dataclass(frozen=True, slots=True)
class BulkDeletion:
    deleted_ids: list[str]
    failed_ids: list[str]


async def bulk_delete(
    db: Database, settings: Settings, org_id: str, call_ids: list[str]
) -> BulkDeletion:
    """Delete the terminal calls among ``call_ids``; active, unknown and other organizations'
    ids are reported as failed. Everything is deleted in one transaction."""
    wanted = list(dict.fromkeys(cid for cid in map(parse_call_id, call_ids) if cid))
    async with db.write() as conn:
        query = sa.select(calls.c.id, calls.c.status, calls.c.recording_path).where(
            calls.c.organization_id == org_id, calls.c.id.in_(wanted)
        )
        if conn.dialect.name != "sqlite":
            query = query.with_for_update()
        rows = {row.id: row for row in (await conn.execute(query)).all()} if wanted else {}
        deletable = [
            cid for cid in wanted if cid in rows and CallStatus(rows[cid].status).is_terminal
        ]
        if deletable:
            await _delete_rows(conn, deletable)
    for cid in deletable:
        await remove_recording(settings, cid, rows[cid].recording_path)
    deleted = set(deletable)
    failed = [cid for cid in dict.fromkeys(call_ids) if parse_call_id(cid) not in deleted]
    return BulkDeletion(deleted_ids=deletable, failed_ids=failed)


async def _delete_rows(conn: AsyncConnection, call_ids: list[str]) -> None:
    await CALL_STORE.delete(conn, call_ids)
