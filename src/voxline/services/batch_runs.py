"""Running a batch: turning its due contacts into queued calls, and recording how each call
ended on its contact. The engine's scheduler (:mod:`voxline.engine.batches`) and finalizer
call these inside their own transactions.

Placement (:func:`place_due`), one transaction per batch and round:

- the batch row is locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a batch another worker
  is placing is skipped this round), so a contact is never turned into two calls; pausing,
  cancelling and ending calls lock the same row and wait for the round;
- at most ``max_concurrent_calls`` contacts of the batch are on a call at once, leaving one
  of the organization's slots free for its other calls (when its limit is above one), and at
  most :data:`QUEUED_PER_BATCH` of its calls wait unplaced in the dispatcher's queue: the
  dispatcher serves each organization first-in first-out, so an API call created while a
  batch runs waits behind a handful of batch calls, never behind the batch;
- ``max_calls_per_day`` counts calls started on the batch's local day;
- each contact is read on its own clock (:mod:`voxline.domain.calling_window`): outside its
  window it is postponed to the window's next opening; on the do-not-call list it is
  ``skipped`` and never called; otherwise a call is queued from its caller ID (chosen once,
  :mod:`voxline.domain.caller_ids`) at the next free pacing slot of that number;
- contacts are read a page (:data:`PAGE`) at a time: a batch is never held in memory.

A call's end (:func:`call_ended`, in the finalization transaction, exactly once per call)
moves its contact to a retry (``scheduled`` at ``next_attempt_at``, by
:mod:`voxline.domain.retries`) or to its outcome; a contact on the do-not-call list or who
asked not to be called is never retried. When no contact is left open the batch completes.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.domain.agents import AgentStatus
from voxline.domain.batches import (
    OPEN_CONTACT_STATUSES,
    BatchAction,
    BatchStatus,
    ContactStatus,
    transition,
)
from voxline.domain.caller_ids import Pacer, Rotation, choose
from voxline.domain.calling_window import zone
from voxline.domain.calls import CallDirection, CallStatus
from voxline.domain.retries import RetryPolicy, attempt_outcome
from voxline.domain.tools import BuiltinTool
from voxline.errors import PaymentRequired, ValidationFailed
from voxline.logging import get_logger
from voxline.services import billing, dnc
from voxline.services.batch_records import set_status
from voxline.services.batches import window
from voxline.services.call_records import CallSettings
from voxline.services.calls import normalize_variables
from voxline.storage.calls import CALL_STORE
from voxline.storage.tables import (
    agent_tools,
    agents,
    batch_calls,
    batch_contacts,
    calls,
    organizations,
    phone_numbers,
)

log = get_logger("services.batch_runs")

PAGE = 50
QUEUED_PER_BATCH = 4
_OPEN = [s.value for s in OPEN_CONTACT_STATUSES]


@dataclass(frozen=True, slots=True)
class Round:
    """What one round did to a batch."""

    placed: int = 0
    postponed: int = 0
    skipped: int = 0


async def due_batches(conn: AsyncConnection, now: datetime, limit: int = 100) -> list[str]:
    """Running batches whose start has come, the least recently touched first."""
    query = (
        sa.select(batch_calls.c.id)
        .where(
            batch_calls.c.status.in_([BatchStatus.SCHEDULED.value, BatchStatus.ACTIVE.value]),
            sa.or_(batch_calls.c.scheduled_at.is_(None), batch_calls.c.scheduled_at <= now),
        )
        .order_by(batch_calls.c.updated_at, batch_calls.c.id)
        .limit(limit)
    )
    return [str(i) for i in (await conn.execute(query)).scalars().all()]


async def _lock_running(conn: AsyncConnection, batch_id: str) -> sa.RowMapping | None:
    query = sa.select(batch_calls).where(
        batch_calls.c.id == batch_id,
        batch_calls.c.status.in_([BatchStatus.SCHEDULED.value, BatchStatus.ACTIVE.value]),
    )
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    row = (await conn.execute(query)).first()
    return row._mapping if row is not None else None


async def _count(conn: AsyncConnection, *where: sa.ColumnElement[bool]) -> int:
    query = sa.select(sa.func.count()).select_from(batch_contacts).where(*where)
    return int((await conn.execute(query)).scalar_one())


async def _fail(conn: AsyncConnection, batch: sa.RowMapping, now: datetime, why: str) -> None:
    log.warning("batch failed", extra={"batch_id": batch["id"], "reason": why})
    if transition(BatchStatus(batch["status"]), BatchAction.FAIL) is not None:
        await set_status(conn, batch, BatchStatus.FAILED, now)
    await conn.execute(
        batch_contacts.update()
        .where(
            batch_contacts.c.batch_id == batch["id"],
            batch_contacts.c.status.in_(
                [ContactStatus.PENDING.value, ContactStatus.SCHEDULED.value]
            ),
        )
        .values(status=ContactStatus.CANCELLED.value, updated_at=now)
    )


async def complete_if_done(conn: AsyncConnection, batch: sa.RowMapping, now: datetime) -> bool:
    """Complete a running batch (locked in ``batch``) that has no open contact left."""
    if not BatchStatus(batch["status"]).runs:
        return False
    if await _count(
        conn, batch_contacts.c.batch_id == batch["id"], batch_contacts.c.status.in_(_OPEN)
    ):
        return False
    await set_status(conn, batch, BatchStatus.COMPLETED, now, completed_at=now)
    return True


async def place_due(
    conn: AsyncConnection,
    settings: Settings,
    batch_id: str,
    now: datetime,
    rng: random.Random | None = None,
) -> Round:
    """One round of the batch ``batch_id`` (see the module's docstring)."""
    batch = await _lock_running(conn, batch_id)
    if batch is None or (batch["scheduled_at"] is not None and batch["scheduled_at"] > now):
        return Round()
    if BatchStatus(batch["status"]) is BatchStatus.SCHEDULED:
        await set_status(conn, batch, BatchStatus.ACTIVE, now)
        batch = await _lock_running(conn, batch_id)
        assert batch is not None
    org_id = batch["organization_id"]
    agent = (
        await conn.execute(
            sa.select(agents).where(
                agents.c.id == batch["agent_id"], agents.c.organization_id == org_id
            )
        )
    ).first()
    if agent is None or agent.status != AgentStatus.ACTIVE:
        await _fail(conn, batch, now, "agent_not_active")
        return Round()
    numbers = {
        r.id: r
        for r in (
            await conn.execute(
                sa.select(phone_numbers).where(
                    phone_numbers.c.organization_id == org_id,
                    phone_numbers.c.id.in_(list(batch["phone_number_ids"] or [])),
                )
            )
        ).all()
    }
    pool = [n for n in batch["phone_number_ids"] if n in numbers]
    if not pool:
        await _fail(conn, batch, now, "no_phone_number_configured")
        return Round()
    free = await _free_slots(conn, settings, batch, now)
    if free <= 0:
        return Round()
    try:
        await billing.require_credit(conn, org_id, settings.minimum_call_credit())
    except PaymentRequired:
        log.info("batch waits for credits", extra={"batch_id": batch_id})
        return Round()

    tz = zone(batch["timezone"])
    calling_window = window(dict(batch))
    pacer = Pacer.from_json(batch["calls_per_second"], batch["pacing"])
    rotation = Rotation(batch["phone_rotation_strategy"])
    call_settings = CallSettings(
        recording_enabled=agent.recording_enabled,
        transcription_enabled=True,
        greeting=agent.greeting,
        max_duration_seconds=agent.max_duration_seconds,
        join_timeout_seconds=agent.join_timeout_seconds,
        leave_voicemail=await _leaves_voicemail(conn, agent.id),
    ).to_json()
    dialed = batch["dialed"]
    placed = postponed = skipped = 0
    page = await _due_page(conn, batch_id, now)
    listed = await dnc.listed_among(conn, {(org_id, c.phone_number) for c in page})
    for contact in page:
        if placed >= free:
            break
        contact_tz = tz
        if contact.timezone:
            try:
                contact_tz = zone(contact.timezone)
            except ValidationFailed:
                contact_tz = tz
        if not calling_window.allows(now, contact_tz):
            postponed += 1
            await _update_contact(
                conn, contact.id, now, next_attempt_at=calling_window.next_allowed(now, contact_tz)
            )
            continue
        if (org_id, contact.phone_number) in listed:
            skipped += 1
            await _update_contact(
                conn,
                contact.id,
                now,
                status=ContactStatus.SKIPPED.value,
                last_outcome=dnc.REASON,
                next_attempt_at=None,
            )
            continue
        number_id = contact.phone_number_id if contact.phone_number_id in numbers else None
        if number_id is None:
            number_id = choose(pool, rotation, dialed=dialed, pacer=pacer, now=now, rng=rng)
            dialed += 1
        number = numbers[number_id]
        call_id = str(uuid.uuid4())
        await CALL_STORE.insert(
            conn,
            dict(
                id=call_id,
                organization_id=org_id,
                agent_id=agent.id,
                direction=CallDirection.OUTBOUND.value,
                status=CallStatus.QUEUED.value,
                phone_number=contact.phone_number,
                from_number=number.phone_number,
                phone_number_id=number.id,
                provider_type=number.provider_type,
                variables=_variables(contact),
                settings=call_settings,
                context={"batch_id": batch_id, "batch_contact_id": contact.id},
                attempts=0,
                not_before=pacer.take(number_id, now),
                batch_contact_id=contact.id,
                created_at=now,
                updated_at=now,
            ),
        )
        await _update_contact(
            conn,
            contact.id,
            now,
            status=ContactStatus.CALLING.value,
            attempts=contact.attempts + 1,
            last_call_id=call_id,
            phone_number_id=number_id,
            called_at=now,
            next_attempt_at=None,
        )
        placed += 1
    day = calling_window.day_of(now, tz).isoformat()
    day_count = (batch["day_count"] if batch["day"] == day else 0) + placed
    await conn.execute(
        batch_calls.update()
        .where(batch_calls.c.id == batch_id)
        .values(pacing=pacer.to_json(), dialed=dialed, day=day, day_count=day_count, updated_at=now)
    )
    if not page:
        await complete_if_done(conn, batch, now)
    return Round(placed, postponed, skipped)


async def _free_slots(
    conn: AsyncConnection, settings: Settings, batch: sa.RowMapping, now: datetime
) -> int:
    """How many calls the batch may queue now (its caps, the organization's, the day's)."""
    org_limit = int(
        (
            await conn.execute(
                sa.select(organizations.c.concurrency_limit).where(
                    organizations.c.id == batch["organization_id"]
                )
            )
        ).scalar()
        or settings.default_concurrency_limit
    )
    cap = min(int(batch["max_concurrent_calls"]), max(1, org_limit - 1))
    mine = batch_contacts.c.batch_id == batch["id"]
    calling = await _count(conn, mine, batch_contacts.c.status == ContactStatus.CALLING.value)
    unplaced = int(
        (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(
                    batch_contacts.join(calls, calls.c.id == batch_contacts.c.last_call_id)
                )
                .where(
                    mine,
                    batch_contacts.c.status == ContactStatus.CALLING.value,
                    calls.c.status == CallStatus.QUEUED.value,
                    calls.c.placement_state.is_(None),
                )
            )
        ).scalar_one()
    )
    free = min(cap - calling, QUEUED_PER_BATCH - unplaced)
    daily = batch["max_calls_per_day"]
    if daily is not None:
        day = window(dict(batch)).day_of(now, zone(batch["timezone"])).isoformat()
        used = batch["day_count"] if batch["day"] == day else 0
        free = min(free, int(daily) - int(used))
    return free


async def _due_page(conn: AsyncConnection, batch_id: str, now: datetime) -> list[Any]:
    """Due contacts: retries first, then those never tried, each in due order."""
    found: list[Any] = []
    for status in (ContactStatus.SCHEDULED, ContactStatus.PENDING):
        query = (
            sa.select(batch_contacts)
            .where(
                batch_contacts.c.batch_id == batch_id,
                batch_contacts.c.status == status.value,
                batch_contacts.c.next_attempt_at <= now,
            )
            # The index order alone: a tie-break column outside the index would sort every
            # due contact of a large batch on each round.
            .order_by(batch_contacts.c.next_attempt_at)
            .limit(PAGE - len(found))
        )
        found += (await conn.execute(query)).all()
        if len(found) >= PAGE:
            break
    return found


async def _update_contact(
    conn: AsyncConnection, contact_id: str, now: datetime, **values: Any
) -> None:
    await conn.execute(
        batch_contacts.update()
        .where(batch_contacts.c.id == contact_id)
        .values(updated_at=now, **values)
    )


def _variables(contact: Any) -> dict[str, str]:
    values: dict[str, Any] = {
        k: v for k, v in (contact.custom_fields or {}).items() if not isinstance(v, dict | list)
    }
    for name in ("first_name", "last_name", "email", "phone_number"):
        if getattr(contact, name) is not None:
            values[name] = getattr(contact, name)
    return normalize_variables(values, "custom_fields")


async def _leaves_voicemail(conn: AsyncConnection, agent_id: str) -> bool:
    found = await conn.execute(
        sa.select(agent_tools.c.agent_id).where(
            agent_tools.c.agent_id == agent_id,
            agent_tools.c.builtin == BuiltinTool.LEAVE_VOICEMAIL.value,
        )
    )
    return found.first() is not None


# --- a call's end -----------------------------------------------------------------------------


async def call_ended(
    conn: AsyncConnection,
    *,
    call_id: str,
    batch_contact_id: str,
    status: str,
    ended_at: datetime | None,
    opted_out: bool,
    now: datetime,
    end_reason: str | None = None,
) -> bool:
    """Record the end of a batch call on its contact; True when it changed something (a
    slot of the batch is free again). The contact's outcome is
    :func:`~voxline.domain.retries.attempt_outcome` of the call's ``status`` and
    ``end_reason``: a call cut by our shutdown counts as ``failed``."""
    batch_id = (
        await conn.execute(
            sa.select(batch_contacts.c.batch_id).where(batch_contacts.c.id == batch_contact_id)
        )
    ).scalar()
    if batch_id is None:
        return False
    postgres = conn.dialect.name != "sqlite"
    batch_query = sa.select(batch_calls).where(batch_calls.c.id == batch_id)
    contact_query = sa.select(batch_contacts).where(batch_contacts.c.id == batch_contact_id)
    if postgres:
        # The batch row first, as every writer of its contacts does: the last two calls of
        # a batch ending at once see each other, and one of them completes the batch.
        batch_query = batch_query.with_for_update()
        contact_query = contact_query.with_for_update()
    batch = (await conn.execute(batch_query)).one()._mapping
    contact = (await conn.execute(contact_query)).one()
    if contact.last_call_id != call_id or contact.status != ContactStatus.CALLING.value:
        return False
    listed = await dnc.is_listed(conn, batch["organization_id"], contact.phone_number)
    refused = opted_out or listed
    policy = RetryPolicy.of(
        batch["retry_failed"], batch["max_retry_attempts"], batch["retry_policy"]
    )
    status = attempt_outcome(status, end_reason)
    decision = policy.decide(status, contact.attempts, ended_at or now, opted_out=refused)
    values: dict[str, Any] = {"last_outcome": status, "next_attempt_at": None}
    if BatchStatus(batch["status"]).is_terminal and decision.retry:
        values["status"] = ContactStatus.CANCELLED.value
    elif decision.retry:
        values.update(status=ContactStatus.SCHEDULED.value, next_attempt_at=decision.at)
    elif refused and status != CallStatus.COMPLETED:
        values["status"] = ContactStatus.SKIPPED.value
    else:
        values["status"] = _outcome_status(status).value
    if refused:
        values["last_outcome"] = dnc.REASON if listed else "opted_out"
    await _update_contact(conn, batch_contact_id, now, **values)
    await complete_if_done(conn, batch, now)
    return True


def _outcome_status(status: str) -> ContactStatus:
    try:
        return ContactStatus(status)
    except ValueError:
        return ContactStatus.FAILED
