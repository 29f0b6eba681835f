"""Web calls: a person talks to an agent from the dashboard, the browser's microphone and
speaker carried over a WebSocket instead of a phone line.

A web call is a real call record, recorded, transcribed, finalized and billed as any call:

- ``direction`` ``inbound`` (the person calls the agent), ``context.channel`` ``"web"``;
- ``provider_type`` ``web`` (:data:`voxline.domain.lines.WEB`): no carrier, no number
  (``phone_number_id`` null). ``phone_number`` cannot be null in the schema and the API
  promises a string, so it holds the placeholder ``"web"`` (:data:`WEB_CONTACT`), never a
  number; ``from_number`` is null;
- it is created ``ringing`` with the agent's join timeout as its deadline, answered when the
  browser's socket starts, and ends when either side hangs up (``contact_hangup`` or
  ``agent_hangup``), or at ``max_duration``;
- it is billed at the platform rate only: the telephony price of provider ``web`` is not
  configured, so it costs what a sandbox call (telephony price 0) costs.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from voxline.config import Settings
from voxline.domain.calls import CallDirection, CallStatus, PlacementStatus
from voxline.domain.lines import WEB
from voxline.errors import NotFound, ValidationFailed
from voxline.logging import get_logger
from voxline.services import billing
from voxline.services.call_records import CallSettings, parse_call_id
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.storage.tables import agents, calls
from voxline.storage.types import utcnow

log = get_logger("services.web_calls")

WEB_CONTACT = "web"
"""What a web call's ``phone_number`` holds: the contact is a browser, not a number."""
CHANNEL = "web"


async def start_web_call(db: Database, settings: Settings, org_id: str, agent_id: str) -> str:
    """Record a web call of the organization's active agent ``agent_id`` (ringing until the
    browser's socket starts) and return its id. 404 for an unknown agent, 422 for an
    inactive one, 402 when the balance is below ``settings.minimum_call_credit()``."""
    if parse_call_id(agent_id) is None:
        raise NotFound.resource("Agent")
    async with db.write() as conn:
        agent = (
            await conn.execute(
                sa.select(agents).where(agents.c.id == agent_id, agents.c.organization_id == org_id)
            )
        ).first()
        if agent is None:
            raise NotFound.resource("Agent")
        if agent.status != "active":
            raise ValidationFailed.field("agent_id", "the agent is not active")
        await billing.require_credit(conn, org_id, settings.minimum_call_credit())
        effective = CallSettings(
            recording_enabled=agent.recording_enabled,
            transcription_enabled=True,
            greeting=None,
            max_duration_seconds=agent.max_duration_seconds,
            join_timeout_seconds=agent.join_timeout_seconds,
        )
        now = utcnow()
        call_id = str(uuid.uuid4())
        await CALL_STORE.insert(
            conn,
            dict(
                id=call_id,
                organization_id=org_id,
                agent_id=agent.id,
                direction=CallDirection.INBOUND.value,
                status=CallStatus.RINGING.value,
                phone_number=WEB_CONTACT,
                from_number=None,
                phone_number_id=None,
                provider_type=WEB,
                provider_call_id=None,
                variables={},
                settings=effective.to_json(),
                context={"channel": CHANNEL},
                placement_state=PlacementStatus.PLACED.value,
                attempts=0,
                deadline_at=now + timedelta(seconds=agent.join_timeout_seconds),
                created_at=now,
                updated_at=now,
            ),
        )
    log.info("web call started", extra={"call_id": call_id})
    return call_id


async def waiting_web_call(db: Database, org_id: str, call_id: str) -> CallSettings | None:
    """The settings of the organization's web call ``call_id`` while it waits for its
    socket (ringing); None for any other call, or once it started or ended."""
    canonical = parse_call_id(call_id)
    if canonical is None:
        return None
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(calls.c.settings).where(
                    calls.c.id == canonical,
                    calls.c.organization_id == org_id,
                    calls.c.provider_type == WEB,
                    calls.c.status == CallStatus.RINGING.value,
                )
            )
        ).first()
    return None if row is None else CallSettings.from_json(row.settings or {})
