"""What the client's methods return: one frozen model per resource of the API.

Pydantic models rather than dataclasses: the API's JSON needs parsing anyway (datetimes,
nested settings, lists of numbers), pydantic is already a dependency, and ``extra="allow"``
lets a newer server add fields without breaking an older client (they stay reachable in
``model_extra``). ``model_dump(mode="json")`` gives back exactly what the API sent, which
the CLI prints for ``--json``. Statuses are plain strings for the same reason: a status
this client does not know yet must not make a read fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

# The statuses after which a call changes no more (the server's TERMINAL_STATUSES).
ENDED_STATUSES = frozenset({"completed", "failed", "no_answer", "busy", "voicemail"})


class Model(BaseModel):
    """Base of every returned resource: immutable, tolerant of fields added later."""

    model_config = ConfigDict(frozen=True, extra="allow")


class CallSettings(Model):
    recording_enabled: bool
    transcription_enabled: bool
    greeting: str | None = None
    max_duration: str
    join_timeout: str


class Call(Model):
    id: str
    agent_id: str | None
    phone_number: str
    from_number: str | None = None
    direction: str
    status: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    cost_usd: float | None = None
    summary: str | None = None
    recording_url: str | None = None
    context: dict[str, Any] = {}
    variables: dict[str, str] = {}
    call_settings: CallSettings | None = None
    end_reason: str | None = None
    answered_by: str | None = None
    metrics: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def ended(self) -> bool:
        """True once the call is in a final status."""
        return self.status in ENDED_STATUSES


class TranscriptTurn(Model):
    speaker: str
    text: str
    timestamp: float


class Transcript(Model):
    call_id: str
    transcript: list[TranscriptTurn]
    summary: str | None = None


class Deleted(Model):
    id: str
    deleted: bool


class BulkDeleteResult(Model):
    deleted_count: int
    failed_count: int
    deleted_ids: list[str]
    failed_ids: list[str]


class PhoneNumberRef(Model):
    id: str
    phone_number: str


class Agent(Model):
    id: str
    name: str
    description: str | None = None
    system_prompt: str
    greeting: str | None = None
    model: str
    voice_id: str | None = None
    temperature: float
    language_hint: str | None = None
    recording_enabled: bool
    join_timeout: str
    max_duration: str
    status: str
    inbound_phone_numbers: list[PhoneNumberRef] = []
    outbound_phone_numbers: list[PhoneNumberRef] = []
    created_at: datetime
    updated_at: datetime


class Voice(Model):
    id: str
    name: str
    provider: str
    type: str
    language: str
    status: str


class PhoneNumber(Model):
    id: str
    phone_number: str
    provider_type: str
    friendly_name: str | None = None
    status: str
    is_managed: bool
    credential_id: str | None = None
    inbound_agent_id: str | None = None
    outbound_agent_id: str | None = None
    created_at: datetime
    updated_at: datetime


class Pagination(Model):
    total: int
    limit: int
    offset: int
    has_more: bool


class Page(Model, Generic[T]):
    """One page of a list: ``data`` and where it sits in the whole."""

    data: list[T]
    pagination: Pagination


class Tool(Model):
    """An HTTP tool; ``definition`` is the canonical (Ultravox-style) form, header secrets
    masked."""

    id: str
    name: str
    definition: dict[str, Any] | None = None
    description: str | None = None
    url: str | None = None
    method: str | None = None
    timeout_seconds: float | None = None
    created_at: datetime
    updated_at: datetime


class WebhookEndpoint(Model):
    id: str
    url: str
    description: str | None = None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpoint):
    """An endpoint as created or rotated: its signing secret is shown this once."""

    secret: str
    previous_secret_expires_at: datetime | None = None


class TimelineEntry(Model):
    seq: int
    type: str
    at: datetime
    data: dict[str, Any]


class Timeline(Model):
    call_id: str
    events: list[TimelineEntry]


class BatchCall(Model):
    """A batch call (campaign): its configuration and counters."""

    id: str
    name: str
    status: str
    agent_id: str
    phone_number_ids: list[str]
    timezone: str
    scheduled_at: datetime | None = None
    start_time: str | None = None
    end_time: str | None = None
    working_days: list[int]
    max_concurrent_calls: int
    retry_failed: bool
    max_retry_attempts: int
    retry_policy: dict[str, Any]
    total_contacts: int
    called: int
    completed: int
    failed: int
    pending: int
    created_at: datetime
    updated_at: datetime


class BatchStatusChange(Model):
    id: str
    status: str


class BatchContact(Model):
    id: str
    contact_id: str | None = None
    phone_number: str
    first_name: str | None = None
    call_status: str
    attempts: int
    scheduled_at: datetime | None = None
    call_id: str | None = None
    last_outcome: str | None = None


class ContactsAdded(Model):
    added_count: int
    failed_count: int


class BatchAnalytics(Model):
    batch_id: str
    contacts_by_status: dict[str, int]
    contacts_by_outcome: dict[str, int]
    calls: int
    connected: int
    failed: int
    pending: int
    average_duration_seconds: float | None = None
    total_cost_usd: str
