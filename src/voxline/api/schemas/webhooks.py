"""Request and response bodies of ``/webhooks`` (an extension of the reference, §10.1), and
the body of a webhook delivery (§10.2).

A delivery's body is ``{"id", "event", "timestamp", "data"}``: ``id`` is the event's id (the
same on every retry and replay: deduplicate on it), ``data`` holds the event again
(``data.id``, ``data.eventId``, ``data.event``), the call's sequence number ``data.seq`` and,
for a call event, ``data.call``: the call as ``GET /calls/{id}`` shows it when the event
happened, plus the reference's ids ``data.call.callId`` and ``data.call.agent.agentId``.
The body is rendered from the stored event at each attempt: only a Voxline-served
``recording_url`` (signed, expiring) differs between two attempts of one event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast
from uuid import UUID

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr

from voxline.api.schemas.calls import CallOut
from voxline.config import Settings
from voxline.domain.webhooks import DeliveryStatus
from voxline.services.call_records import RecordingLinks, to_call
from voxline.services.webhook_deliveries import Delivery
from voxline.services.webhooks import (
    DESCRIPTION_MAX,
    URL_MAX,
    Endpoint,
    EndpointChanges,
)
from voxline.storage.events import SNAPSHOT_TIMES

# The subscribable event types (a test keeps this list equal to ``SUBSCRIBABLE``).
EventTypeName = Literal[
    "call.queued",
    "call.ringing",
    "call.started",
    "call.ended",
    "call.analyzed",
    "batch.status.changed",
    "batch.completed",
]
Url = Annotated[
    StrictStr, Field(min_length=1, max_length=URL_MAX, examples=["https://example.com/hooks"])
]
Description = Annotated[StrictStr, Field(max_length=DESCRIPTION_MAX)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url
    event_types: list[EventTypeName] = Field(min_length=1, max_length=20)
    description: Description | None = None


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    event_types: list[EventTypeName] | None = Field(default=None, min_length=1, max_length=20)
    description: Description | None = None
    enabled: bool | None = None

    def to_changes(self) -> EndpointChanges:
        return EndpointChanges(
            url=self.url,
            event_types=self.event_types,
            description=self.description,
            enabled=self.enabled,
        )


class WebhookOut(BaseModel):
    """An endpoint; its secret is never part of it."""

    id: UUID
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = Field(
        description="gone (answered 410), failing (failed for days) or disabled_by_user"
    )
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint) -> WebhookOut:
        return cls(
            id=UUID(endpoint.id),
            url=endpoint.url,
            description=endpoint.description,
            event_types=endpoint.event_types,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            failing_since=endpoint.failing_since,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookWithSecret(WebhookOut):
    """An endpoint with its signing secret: only in the answer of a create or a rotation."""

    secret: str = Field(description="whsec_…; shown this once, store it now")
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="After a rotation: until when the old secret signs too"
    )


class WebhookDeleted(BaseModel):
    id: UUID
    deleted: bool


class TestEventOut(BaseModel):
    event_id: UUID


class ReplayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: AwareDatetime = Field(description="Resend every subscribed event created since then")


class ReplayOut(BaseModel):
    queued: int


class DeliveryOut(BaseModel):
    id: UUID
    event_id: UUID
    event: str
    call_id: UUID | None
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_delivery(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=UUID(d.id),
            event_id=UUID(d.event_id),
            event=d.event_type,
            call_id=UUID(d.call_id) if d.call_id else None,
            status=d.status,
            attempts=d.attempts,
            last_status_code=d.last_status_code,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
            created_at=d.created_at,
            updated_at=d.updated_at,
        )


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call_object(snapshot: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The API's call object for a call snapshot taken by the outbox, with the reference's
    ``callId`` and ``agent.agentId``."""
    row = {
        key: (datetime.fromisoformat(value) if key in SNAPSHOT_TIMES and value else value)
        for key, value in snapshot.items()
    }
    call = to_call(cast(sa.RowMapping, row), RecordingLinks(settings))
    rendered: dict[str, Any] = CallOut.from_record(call).model_dump(mode="json")
    rendered["callId"] = rendered["id"]
    rendered["agent"] = {"agentId": rendered["agent_id"]}
    return rendered


def event_body(
    settings: Settings,
    *,
    event_id: str,
    event_type: str,
    created_at: datetime,
    seq: int | None,
    payload: Mapping[str, Any],
) -> bytes:
    """The JSON body of a delivery (keys sorted, compact)."""
    data: dict[str, Any] = {"id": event_id, "eventId": event_id, "event": event_type}
    if seq is not None:
        data["seq"] = seq
    for key, value in payload.items():
        data[key] = call_object(value, settings) if key == "call" else value
    body = {"id": event_id, "event": event_type, "timestamp": _timestamp(created_at), "data": data}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
