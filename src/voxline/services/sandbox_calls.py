"""Inbound calls without a carrier: a sandbox persona calls one of the organization's
sandbox numbers.

The call is recorded exactly as a carrier's inbound webhook records one
(:func:`voxline.services.provider_calls.receive_inbound`): the number's active inbound agent
takes it (ringing, direction ``inbound``, the persona's number as the caller), or, when no
agent takes the number, it is recorded ``failed`` (``rejected``) with ``context.last_error``.
The sandbox carrier then plays the caller (the runtime hands it the call).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from voxline.config import Settings
from voxline.errors import NotFound, ValidationFailed
from voxline.services.credentials import credential_for_number
from voxline.services.provider_calls import receive_inbound
from voxline.storage.db import Database
from voxline.storage.tables import calls, phone_numbers
from voxline.telephony.credentials import ProviderType
from voxline.telephony.sandbox.numbers import area_code_of, in_range
from voxline.telephony.sandbox.personas import (
    CALLER_BEHAVIOURS,
    DEFAULT_CALLER,
    Persona,
    caller_number,
    caller_persona,
)

DEFAULT_AREA_CODE = "415"


@dataclass(frozen=True, slots=True)
class InboundRing:
    """A sandbox inbound call as recorded: ``answered`` False when no agent takes the
    number (the call is then already ``failed``)."""

    call_id: str
    provider_call_id: str
    org_id: str
    agent_id: str | None
    caller: str
    number: str
    persona: Persona
    answered: bool


def persona_named(name: str | None) -> Persona:
    """The caller persona ``name`` (default ``talker``); 422 for an unknown one."""
    persona = caller_persona(name or DEFAULT_CALLER.value)
    if persona is None:
        names = ", ".join(b.value for b in CALLER_BEHAVIOURS)
        raise ValidationFailed.field("persona", f"is not a caller persona (one of: {names})")
    return persona


async def ring_sandbox_number(
    db: Database, settings: Settings, org_id: str, to_number: str, persona_name: str | None
) -> InboundRing:
    """Record a call from the persona ``persona_name`` to the organization's number
    ``to_number``. 404 when the organization has no such number; 422 when it is on a real
    carrier (only the sandbox can be called in) or the persona is unknown."""
    persona = persona_named(persona_name)
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(phone_numbers.c.id, phone_numbers.c.provider_type).where(
                    phone_numbers.c.organization_id == org_id,
                    phone_numbers.c.phone_number == to_number,
                )
            )
        ).first()
    if row is None:
        raise NotFound.resource("Phone number")
    if row.provider_type != ProviderType.SANDBOX.value:
        raise ValidationFailed.field(
            "to_number",
            f"is a {row.provider_type} number: only sandbox numbers can be called in",
        )
    number = await credential_for_number(db, settings, row.id)
    area = area_code_of(to_number) if in_range(to_number) else DEFAULT_AREA_CODE
    caller = caller_number(persona.behaviour, area)
    provider_call_id = f"SBX{uuid.uuid4().hex}"
    decision = await receive_inbound(db, number, caller=caller, provider_call_id=provider_call_id)
    async with db.read() as conn:
        agent_id = (
            await conn.execute(sa.select(calls.c.agent_id).where(calls.c.id == decision.call_id))
        ).scalar_one_or_none()
    return InboundRing(
        call_id=decision.call_id,
        provider_call_id=provider_call_id,
        org_id=org_id,
        agent_id=agent_id,
        caller=caller,
        number=to_number,
        persona=persona,
        answered=decision.answered,
    )
