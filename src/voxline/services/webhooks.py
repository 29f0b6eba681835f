"""Webhook endpoints: create, list, read, change, delete, rotate the secret, send a test.

An endpoint belongs to one organization; another organization's id is "not found". Its
signing secret (``whsec_…``) is generated here, returned once (by :func:`create_endpoint` and
:func:`rotate_secret`), stored sealed with the deployment key and never shown or logged
again. A rotation keeps the previous secret signing for ``webhooks_rotation_overlap_seconds``.

The URL is checked by the SSRF guard (:mod:`voxline.net.ssrf`) here and again before every
delivery; every refusal is a 422 that writes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.crypto import SecretBox
from voxline.domain.webhooks import EventType, new_secret
from voxline.errors import NotFound, ValidationFailed
from voxline.net.ssrf import UnsafeUrl, check_url
from voxline.storage import events as outbox
from voxline.storage.db import Database
from voxline.storage.tables import webhook_endpoints
from voxline.storage.types import utcnow

SUBSCRIBABLE = frozenset(EventType) - {EventType.WEBHOOK_TEST}
URL_MAX = 2048
DESCRIPTION_MAX = 500


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint as the API shows it (never its secret)."""

    id: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """A PATCH: ``None`` leaves a field as it is."""

    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = None
    enabled: bool | None = None


def _endpoint(row: sa.RowMapping) -> Endpoint:
    return Endpoint(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=list(row["event_types"] or []),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        failing_since=row["failing_since"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _canonical(endpoint_id: str) -> str | None:
    try:
        return str(uuid.UUID(endpoint_id))
    except (ValueError, AttributeError, TypeError):
        return None


async def check_endpoint_url(settings: Settings, url: str) -> None:
    """Refuse ``url`` (422 ``details.field=url``) unless the SSRF guard lets it through."""
    if len(url) > URL_MAX:
        raise ValidationFailed.field("url", f"must be at most {URL_MAX} characters")
    try:
        await check_url(
            url,
            allow_http=settings.webhooks_allow_http,
            allow_private=settings.webhooks_allow_private_networks,
        )
    except UnsafeUrl as exc:
        raise ValidationFailed.field("url", str(exc)) from None


def _event_types(values: Sequence[str]) -> list[str]:
    if not values:
        raise ValidationFailed.field("event_types", "must list at least one event type")
    unknown = sorted(set(values) - {t.value for t in SUBSCRIBABLE})
    if unknown:
        raise ValidationFailed.field(
            "event_types",
            f"unknown event type {unknown[0]!r}",
            allowed=sorted(t.value for t in SUBSCRIBABLE),
        )
    return sorted(set(values))


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise ValidationFailed.field("description", f"must be at most {DESCRIPTION_MAX} characters")
    return value


async def endpoint_row(
    conn: AsyncConnection, org_id: str, endpoint_id: str, lock: bool = False
) -> sa.RowMapping:
    """The organization's endpoint row (locked on PostgreSQL with ``lock``); 404 if it has
    none of that id."""
    canonical = _canonical(endpoint_id)
    if canonical is None:
        raise NotFound.resource("Webhook")
    query = sa.select(webhook_endpoints).where(
        webhook_endpoints.c.id == canonical, webhook_endpoints.c.organization_id == org_id
    )
    if lock and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.resource("Webhook", canonical)
    mapping: sa.RowMapping = row._mapping
    return mapping


async def create_endpoint(
    db: Database,
    settings: Settings,
    org_id: str,
    *,
    url: str,
    event_types: Sequence[str],
    description: str | None = None,
) -> tuple[Endpoint, str]:
    """Create an enabled endpoint; returns it and its secret (shown this once)."""
    types = _event_types(event_types)
    description = _description(description)
    await check_endpoint_url(settings, url)
    secret = new_secret()
    now = utcnow()
    endpoint_id = str(uuid.uuid4())
    async with db.write() as conn:
        await conn.execute(
            webhook_endpoints.insert().values(
                id=endpoint_id,
                organization_id=org_id,
                url=url,
                description=description,
                event_types=types,
                enabled=True,
                secret_sealed=SecretBox(settings.resolved_secret_key()).seal({"secret": secret}),
                created_at=now,
                updated_at=now,
            )
        )
        row = await endpoint_row(conn, org_id, endpoint_id)
    return _endpoint(row), secret


async def list_endpoints(
    db: Database, org_id: str, *, limit: int, offset: int
) -> tuple[list[Endpoint], int]:
    where = webhook_endpoints.c.organization_id == org_id
    async with db.read() as conn:
        total = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(webhook_endpoints).where(where)
            )
        ).scalar_one()
        rows = (
            await conn.execute(
                sa.select(webhook_endpoints)
                .where(where)
                .order_by(webhook_endpoints.c.created_at.desc(), webhook_endpoints.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return [_endpoint(r._mapping) for r in rows], int(total)


async def get_endpoint(db: Database, org_id: str, endpoint_id: str) -> Endpoint:
    async with db.read() as conn:
        return _endpoint(await endpoint_row(conn, org_id, endpoint_id))


async def update_endpoint(
    db: Database, settings: Settings, org_id: str, endpoint_id: str, changes: EndpointChanges
) -> Endpoint:
    """Change an endpoint; enabling it again clears why it was disabled and its failure
    streak."""
    values: dict[str, Any] = {}
    if changes.event_types is not None:
        values["event_types"] = _event_types(changes.event_types)
    if changes.description is not None:
        values["description"] = _description(changes.description)
    if changes.url is not None:
        await check_endpoint_url(settings, changes.url)
        values["url"] = changes.url
    if changes.enabled is not None:
        values["enabled"] = changes.enabled
        values["disabled_reason"] = None if changes.enabled else "disabled_by_user"
        if changes.enabled:
            values["failing_since"] = None
    async with db.write() as conn:
        row = await endpoint_row(conn, org_id, endpoint_id, lock=True)
        if values:
            values["updated_at"] = utcnow()
            await conn.execute(
                webhook_endpoints.update()
                .where(webhook_endpoints.c.id == row["id"])
                .values(**values)
            )
            row = await endpoint_row(conn, org_id, row["id"])
    return _endpoint(row)


async def delete_endpoint(db: Database, org_id: str, endpoint_id: str) -> str:
    """Delete an endpoint and its deliveries (the events stay)."""
    async with db.write() as conn:
        row = await endpoint_row(conn, org_id, endpoint_id, lock=True)
        await conn.execute(webhook_endpoints.delete().where(webhook_endpoints.c.id == row["id"]))
    return str(row["id"])


async def rotate_secret(
    db: Database, settings: Settings, org_id: str, endpoint_id: str
) -> tuple[Endpoint, str, datetime]:
    """A new secret (returned this once); the current one keeps signing alongside it until
    the returned time."""
    box = SecretBox(settings.resolved_secret_key())
    secret = new_secret()
    now = utcnow()
    until = now + timedelta(seconds=settings.webhooks_rotation_overlap_seconds)
    async with db.write() as conn:
        row = await endpoint_row(conn, org_id, endpoint_id, lock=True)
        await conn.execute(
            webhook_endpoints.update()
            .where(webhook_endpoints.c.id == row["id"])
            .values(
                secret_sealed=box.seal({"secret": secret}),
                previous_secret_sealed=row["secret_sealed"],
                previous_secret_expires_at=until,
                updated_at=now,
            )
        )
        row = await endpoint_row(conn, org_id, row["id"])
    return _endpoint(row), secret, until


async def send_test(db: Database, org_id: str, endpoint_id: str) -> str:
    """Queue a ``webhook.test`` event to this endpoint only (enabled or not it is queued; a
    disabled endpoint receives it once enabled); the event's id."""
    async with db.write() as conn:
        row = await endpoint_row(conn, org_id, endpoint_id)
        return await outbox.append(
            conn,
            organization_id=org_id,
            event_type=EventType.WEBHOOK_TEST.value,
            payload={"webhook_id": row["id"], "message": "This is a test event from Voxline."},
            only_endpoint_id=row["id"],
        )


def signing_secrets(settings: Settings, row: Any, now: datetime) -> list[str]:
    """The secrets that sign a delivery to the endpoint ``row``: the current one, then the
    previous one while its overlap lasts."""
    box = SecretBox(settings.resolved_secret_key())
    found = [str(box.open(row.secret_sealed)["secret"])]
    expires = row.previous_secret_expires_at
    if row.previous_secret_sealed and expires is not None and expires > now:
        found.append(str(box.open(row.previous_secret_sealed)["secret"]))
    return found
