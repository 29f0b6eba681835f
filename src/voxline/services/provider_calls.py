"""Provider-facing use cases: finding the call (and credentials) a webhook or media stream
belongs to, and answering inbound calls."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from voxline.config import Settings
from voxline.domain.calls import CallDirection, CallStatus, EndReason, PlacementStatus
from voxline.domain.lines import is_simulated
from voxline.errors import NotFound, ProviderError, ValidationFailed
from voxline.logging import get_logger
from voxline.services.credentials import NumberCredential, credential_for_number
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.storage.tables import agents, calls, phone_numbers
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderCall
from voxline.telephony.credentials import ProviderCredentials
from voxline.telephony.registry import ProviderRegistry

log = get_logger("services.provider_calls")


@dataclass(frozen=True, slots=True)
class KnownCall:
    """A call on a carrier, with the decrypted credentials of the number it uses."""

    call_id: str
    org_id: str
    status: CallStatus
    provider_call_id: str | None
    credentials: ProviderCredentials

    @property
    def ref(self) -> ProviderCall:
        """The call as its provider's operations take it."""
        return ProviderCall(self.call_id, self.provider_call_id, self.credentials)


# A provider call id names one call per organization; more than this many organizations
# claiming one is not a real provider's doing, and is not looked through.
MAX_CANDIDATES = 10


def _valid_call_id(call_id: str) -> bool:
    try:
        uuid.UUID(call_id)
    except ValueError:
        return False
    return True


async def find_provider_calls(
    db: Database,
    settings: Settings,
    provider: str,
    *,
    call_id: str | None = None,
    provider_call_id: str | None = None,
) -> list[KnownCall]:
    """The calls a webhook may speak of: the one with our id ``call_id`` (and, when given,
    that provider call id), else every call of ``provider`` with ``provider_call_id``, in
    whichever organization. Provider call ids are not secret and not unique across
    organizations, so the caller keeps only a call whose credentials verify the webhook's
    signature. Empty when none is known."""
    query = sa.select(calls).where(
        calls.c.provider_type == provider, calls.c.phone_number_id.is_not(None)
    )
    if call_id:
        if not _valid_call_id(call_id):
            return []
        query = query.where(calls.c.id == call_id)
    elif provider_call_id:
        query = query.where(calls.c.provider_call_id == provider_call_id)
    else:
        return []
    async with db.read() as conn:
        rows = (await conn.execute(query.order_by(calls.c.id).limit(MAX_CANDIDATES))).all()
    found = []
    for row in rows:
        if call_id and provider_call_id and row.provider_call_id not in (None, provider_call_id):
            continue
        try:
            number = await credential_for_number(db, settings, row.phone_number_id)
        except (NotFound, ValidationFailed):  # released, or its credential is gone
            continue
        found.append(
            KnownCall(
                row.id,
                row.organization_id,
                CallStatus(row.status),
                row.provider_call_id,
                number.credentials,
            )
        )
    return found


async def find_provider_call(
    db: Database,
    settings: Settings,
    provider: str,
    *,
    call_id: str | None,
) -> KnownCall:
    """The call of ``provider`` with our id ``call_id``, with the credentials of the number
    it uses; :class:`NotFound` when there is no such call on that provider."""
    found = await find_provider_calls(db, settings, provider, call_id=call_id) if call_id else []
    if not found:
        raise NotFound.resource("Call")
    return found[0]


async def find_number(
    db: Database, settings: Settings, provider: str, phone_number: str
) -> NumberCredential | None:
    """The number an inbound call dialed, with its credentials (None: not ours)."""
    async with db.read() as conn:
        number_id = (
            await conn.execute(
                sa.select(phone_numbers.c.id).where(
                    phone_numbers.c.phone_number == phone_number,
                    phone_numbers.c.provider_type == provider,
                )
            )
        ).scalar_one_or_none()
    if number_id is None:
        return None
    return await credential_for_number(db, settings, number_id)


UNASSIGNED_NUMBER = "This number is not assigned to an agent for inbound calls"


@dataclass(frozen=True, slots=True)
class InboundDecision:
    """The call recorded for an inbound request; ``answered`` False: turn it away."""

    call_id: str
    answered: bool


async def receive_inbound(
    db: Database,
    number: NumberCredential,
    *,
    caller: str,
    provider_call_id: str,
) -> InboundDecision:
    """Record an inbound call to ``number`` for its inbound agent (ringing until media starts).

    A retried request (a call of the number's organization with ``provider_call_id``) gets
    the call already recorded; calls of other organizations are never looked at, so a
    provider call id taken from someone else's call reveals nothing.

    A number with no active inbound agent is turned away; the call is still recorded, as
    ``failed`` with ``context.last_error``, and without an agent (``agent_id`` null).
    """
    async with db.write() as conn:
        existing = (
            await conn.execute(
                sa.select(calls.c.id, calls.c.status).where(
                    calls.c.organization_id == number.organization_id,
                    calls.c.provider_type == number.provider_type.value,
                    calls.c.provider_call_id == provider_call_id,
                )
            )
        ).first()
        if existing is not None:  # the provider retried its request
            return InboundDecision(existing.id, existing.status != CallStatus.FAILED.value)
        agent = (
            await conn.execute(
                sa.select(agents)
                .select_from(
                    phone_numbers.join(agents, agents.c.id == phone_numbers.c.inbound_agent_id)
                )
                .where(phone_numbers.c.id == number.number_id)
            )
        ).first()
        now = utcnow()
        call_id = str(uuid.uuid4())
        if agent is None or agent.status != "active":
            await CALL_STORE.insert(
                conn,
                dict(
                    id=call_id,
                    organization_id=number.organization_id,
                    agent_id=None,
                    direction=CallDirection.INBOUND.value,
                    status=CallStatus.FAILED.value,
                    phone_number=caller,
                    from_number=number.phone_number,
                    phone_number_id=number.number_id,
                    provider_type=number.provider_type.value,
                    provider_call_id=provider_call_id,
                    variables={},
                    settings={"recording_enabled": False, "transcription_enabled": False},
                    context={"last_error": UNASSIGNED_NUMBER},
                    end_reason=EndReason.REJECTED.value,
                    ended_at=now,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                ),
            )
            log.info("inbound call turned away", extra={"call_id": call_id})
            return InboundDecision(call_id, answered=False)
        await CALL_STORE.insert(
            conn,
            dict(
                id=call_id,
                organization_id=number.organization_id,
                agent_id=agent.id,
                direction=CallDirection.INBOUND.value,
                status=CallStatus.RINGING.value,
                phone_number=caller,
                from_number=number.phone_number,
                phone_number_id=number.number_id,
                provider_type=number.provider_type.value,
                provider_call_id=provider_call_id,
                variables={},
                settings={
                    "recording_enabled": agent.recording_enabled,
                    "transcription_enabled": True,
                    "greeting": None,
                    "max_duration_seconds": agent.max_duration_seconds,
                    "join_timeout_seconds": agent.join_timeout_seconds,
                },
                context={},
                placement_state=PlacementStatus.PLACED.value,
                attempts=0,
                deadline_at=now + timedelta(seconds=agent.join_timeout_seconds),
                created_at=now,
                updated_at=now,
            ),
        )
    log.info("inbound call received", extra={"call_id": call_id, "provider": number.provider_type})
    return InboundDecision(call_id, answered=True)


async def record_dtmf(db: Database, call_id: str, digit: str) -> None:
    """Keep a key the contact pressed, in order, in the call's ``context.dtmf``."""
    async with db.write() as conn:
        await CALL_STORE.record_dtmf(conn, call_id, digit)


async def provider_call_of(db: Database, settings: Settings, call_id: str) -> ProviderCall | None:
    """The call as its provider's operations take it, whichever process placed or received
    it: its provider call id and the decrypted credentials of the number it uses (None on
    the sandbox). None when there is no such call, or its number (and with it the account)
    is gone."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    calls.c.provider_type, calls.c.provider_call_id, calls.c.phone_number_id
                ).where(calls.c.id == call_id)
            )
        ).first()
    if row is None:
        return None
    if is_simulated(row.provider_type):
        return ProviderCall(call_id, row.provider_call_id, None)
    if row.phone_number_id is None:
        return None
    try:
        number = await credential_for_number(db, settings, row.phone_number_id)
    except (NotFound, ValidationFailed):  # released, or its credential is gone
        return None
    return ProviderCall(call_id, row.provider_call_id, number.credentials)


async def hang_up(
    db: Database, settings: Settings, providers: ProviderRegistry, call_id: str
) -> bool:
    """Ask the call's provider to end it, with the credentials of the call's own number, from
    any process. False (and a warning without personal data) when the provider refused or
    the call cannot be reached through it; the caller's record of the call stands."""
    async with db.read() as conn:
        provider_type = (
            await conn.execute(sa.select(calls.c.provider_type).where(calls.c.id == call_id))
        ).scalar_one_or_none()
    if provider_type is None or provider_type not in providers:
        return False
    call = await provider_call_of(db, settings, call_id)
    if call is None or not call.provider_call_id:
        log.warning(
            "hang-up impossible", extra={"call_id": call_id, "reason": "no provider reference"}
        )
        return False
    try:
        await providers.get(provider_type).hangup(call)
    except ProviderError as exc:
        log.warning(
            "hang-up failed",
            extra={"call_id": call_id, "provider": provider_type, "code": exc.provider_code},
        )
        return False
    return True
