"""Telephony credentials: provider accounts an organization's numbers use.

Secret fields are sealed with the deployment's :class:`~voxline.crypto.SecretBox` before they
reach the database and are opened only by :func:`credential_for_number`, for the telephony
adapters. Nothing here returns a secret to a client or writes one to a log.

An organization keeps one credential per provider account (Twilio ``account_sid``, Plivo
``auth_id``; see :mod:`voxline.telephony.credentials`). A Telnyx credential has no account
id of its own: what identifies its account is its API key, so its reuse key is the key's
fingerprint (an HMAC under the deployment's secret, kept in ``public_fields`` as
``api_key_fingerprint``; never the key) with the optional ``connection_id``. Importing
another number of the same account reuses that credential and replaces its secrets, which
is how a rotated Twilio or Plivo token is taken up; two different accounts never share one.
The match is made in Python over the organization's few credentials of that provider,
because ``public_fields`` is JSON and compares differently on each backend.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.crypto import SecretBox
from voxline.errors import NotFound, ValidationFailed
from voxline.storage.db import Database
from voxline.storage.tables import phone_numbers, telephony_credentials
from voxline.storage.types import utcnow
from voxline.telephony.credentials import (
    IDENTIFIER_FIELD,
    CredentialInput,
    ProviderCredentials,
    ProviderType,
    SandboxCredentials,
    load_credentials,
)


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A credential as clients may see it: no secrets."""

    id: str
    provider_type: ProviderType
    friendly_name: str | None
    account_identifier: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NumberCredential:
    """What an adapter needs to act for one number: its provider and opened credentials."""

    number_id: str
    organization_id: str
    phone_number: str
    provider_type: ProviderType
    credential_id: str | None
    credentials: ProviderCredentials


def _account_identifier(provider_type: ProviderType, public: dict[str, Any]) -> str | None:
    name = IDENTIFIER_FIELD[provider_type]
    value = public.get(name) if name else None
    return str(value) if value is not None else None


FINGERPRINT_FIELD = "api_key_fingerprint"


def key_fingerprint(secret_key: str, api_key: str) -> str:
    """What identifies a Telnyx account among an organization's credentials: an HMAC of its
    API key under the deployment's secret (the key cannot be recovered from it)."""
    digest = hmac.new(secret_key.encode(), b"telnyx-api-key\0" + api_key.encode(), "sha256")
    return digest.hexdigest()[:32]


def _reuse_key(
    provider_type: ProviderType, public: dict[str, Any], fingerprint: str | None
) -> tuple[str | None, ...]:
    identifier = _account_identifier(provider_type, public)
    if provider_type is ProviderType.TELNYX:
        return (fingerprint, identifier)
    return (identifier,)


def _stored_fingerprint(box: SecretBox, secret_key: str, row: sa.Row[Any]) -> str | None:
    """A stored Telnyx credential's fingerprint (computed for one stored before it had one)."""
    public = dict(row._mapping["public_fields"])
    if public.get(FINGERPRINT_FIELD):
        return str(public[FINGERPRINT_FIELD])
    try:
        api_key = box.open(row._mapping["secrets_encrypted"]).get("api_key")
    except ValueError:
        return None
    return key_fingerprint(secret_key, str(api_key)) if api_key else None


def _stored(row: sa.Row[Any]) -> StoredCredential:
    m = row._mapping
    provider_type = ProviderType(m["provider_type"])
    return StoredCredential(
        id=m["id"],
        provider_type=provider_type,
        friendly_name=m["friendly_name"],
        account_identifier=_account_identifier(provider_type, dict(m["public_fields"])),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


async def save_credential(
    conn: AsyncConnection, settings: Settings, org_id: str, given: CredentialInput
) -> str | None:
    """Store ``given`` for the organization inside the caller's transaction; return its id.

    Reuses the organization's credential of the same provider and account identifier,
    replacing its secrets and updating its public fields; otherwise creates one. The sandbox
    needs no credential: returns ``None`` and stores nothing.
    """
    if given.provider_type is ProviderType.SANDBOX:
        return None
    secret_key = settings.resolved_secret_key()
    box = SecretBox(secret_key)
    sealed = box.seal(given.secrets)
    given_public: dict[str, str] = dict(given.public)
    fingerprint = None
    if given.provider_type is ProviderType.TELNYX:
        fingerprint = key_fingerprint(secret_key, given.secrets["api_key"])
        given_public[FINGERPRINT_FIELD] = fingerprint
    wanted = _reuse_key(given.provider_type, given_public, fingerprint)
    now = utcnow()
    rows = (
        await conn.execute(
            sa.select(telephony_credentials)
            .where(
                (telephony_credentials.c.organization_id == org_id)
                & (telephony_credentials.c.provider_type == given.provider_type.value)
            )
            .order_by(telephony_credentials.c.created_at, telephony_credentials.c.id)
        )
    ).all()
    for row in rows:
        public = dict(row._mapping["public_fields"])
        stored_fingerprint = (
            _stored_fingerprint(box, secret_key, row)
            if given.provider_type is ProviderType.TELNYX
            else None
        )
        if _reuse_key(given.provider_type, public, stored_fingerprint) == wanted:
            await conn.execute(
                telephony_credentials.update()
                .where(telephony_credentials.c.id == row._mapping["id"])
                .values(
                    public_fields={**public, **given_public},
                    secrets_encrypted=sealed,
                    updated_at=now,
                )
            )
            return str(row._mapping["id"])
    credential_id = str(uuid.uuid4())
    await conn.execute(
        telephony_credentials.insert().values(
            id=credential_id,
            organization_id=org_id,
            provider_type=given.provider_type.value,
            friendly_name=f"{given.provider_type.label} account",
            public_fields=given_public,
            secrets_encrypted=sealed,
            created_at=now,
            updated_at=now,
        )
    )
    return credential_id


async def list_credentials(
    db: Database, org_id: str, *, limit: int = 50, offset: int = 0
) -> tuple[list[StoredCredential], int]:
    """The organization's credentials, newest first, and how many there are in all."""
    where = telephony_credentials.c.organization_id == org_id
    async with db.read() as conn:
        total = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(telephony_credentials).where(where)
            )
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(telephony_credentials)
                .where(where)
                .order_by(
                    telephony_credentials.c.created_at.desc(), telephony_credentials.c.id.desc()
                )
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return [_stored(row) for row in rows], int(total)


async def credential_for_number(
    db: Database, settings: Settings, number_id: str
) -> NumberCredential:
    """The provider and opened credentials of a number, whichever organization owns it.

    For the telephony adapters, never for API responses. Raises :class:`NotFound` for an
    unknown number, and :class:`ValidationFailed` when a provider number has lost its
    credential (the provider is then not configured for it).
    """
    query = (
        sa.select(
            phone_numbers.c.id,
            phone_numbers.c.organization_id,
            phone_numbers.c.phone_number,
            phone_numbers.c.provider_type,
            phone_numbers.c.credential_id,
            telephony_credentials.c.public_fields,
            telephony_credentials.c.secrets_encrypted,
        )
        .select_from(
            phone_numbers.outerjoin(
                telephony_credentials,
                telephony_credentials.c.id == phone_numbers.c.credential_id,
            )
        )
        .where(phone_numbers.c.id == number_id)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.resource("Phone number", number_id)
    m = row._mapping
    provider_type = ProviderType(m["provider_type"])
    credentials: ProviderCredentials
    if provider_type is ProviderType.SANDBOX:
        credentials = SandboxCredentials()
    elif m["secrets_encrypted"] is None:
        raise ValidationFailed.field(
            "credential_id", f"provider {provider_type.value} is not configured for this number"
        )
    else:
        secrets = SecretBox(settings.resolved_secret_key()).open(m["secrets_encrypted"])
        credentials = load_credentials(provider_type, dict(m["public_fields"]), secrets)
    return NumberCredential(
        number_id=m["id"],
        organization_id=m["organization_id"],
        phone_number=m["phone_number"],
        provider_type=provider_type,
        credential_id=m["credential_id"],
        credentials=credentials,
    )
