"""Request and response bodies of ``/batch-calls`` (``reference/truedy-api.md`` §4).

The rules (windows, retries, rotation, bounds) live in :mod:`voxline.services.batches` and
the domain; the types here document them for OpenAPI and reject wrong JSON types.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from voxline.api.schemas.contacts import CustomFields, Email, FirstName, LastName, Phone, Timezone
from voxline.api.schemas.text import StoredText
from voxline.domain.batches import BatchStatus, ContactStatus
from voxline.domain.retries import Outcome
from voxline.services import batch_contacts
from voxline.services import batches as service
from voxline.services.batch_records import Batch

_INPUT = ConfigDict(extra="forbid")

HHMM = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", description="Local time, HH:MM (24 h)")]
Rotation = Literal["random", "sequential", "round_robin"]


def _aware(value: datetime | None) -> datetime | None:
    """A time without an offset is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class RetryRule(BaseModel):
    model_config = _INPUT

    max: int = Field(ge=0, le=3, description="Retries after the first call (0-3)")
    delay: float = Field(
        default=600, ge=0, le=7 * 24 * 3600, description="Seconds from the call's end"
    )


class BatchContactIn(BaseModel):
    model_config = _INPUT

    phone_number: Phone
    first_name: FirstName | None = None
    last_name: LastName | None = None
    email: Email | None = None
    timezone: Timezone | None = Field(
        default=None, description="The contact's IANA zone; the window is read in it"
    )
    custom_fields: CustomFields | None = None


class _Settings(BaseModel):
    """Fields shared by create and PATCH."""

    model_config = _INPUT

    phone_number_ids: list[UUID] | None = Field(
        default=None, max_length=100, description="Caller-ID pool (default: the agent's numbers)"
    )
    phone_rotation_strategy: Rotation | None = None
    schedule_type: Literal["immediate", "scheduled"] | None = None
    scheduled_at: datetime | None = None
    timezone: Timezone | None = Field(default=None, description="IANA zone (default UTC)")
    start_time: HHMM | None = None
    end_time: HHMM | None = None
    working_days: list[int] | None = Field(
        default=None, min_length=1, max_length=7, description="ISO weekdays, 1 = Monday"
    )
    max_concurrent_calls: int | None = Field(default=None, ge=1, le=100)
    concurrency: int | None = Field(default=None, ge=1, le=100, description="Alias")
    max_calls_per_day: int | None = Field(default=None, ge=1)
    retry_failed: bool | None = None
    max_retry_attempts: int | None = Field(default=None, ge=0, le=3)
    retry_attempts: int | None = Field(default=None, ge=0, le=3, description="Alias")
    retry_policy: dict[Outcome, RetryRule] | None = Field(
        default=None, description="Retries by outcome; each takes precedence for its outcome"
    )
    calls_per_second: float | None = Field(
        default=None, ge=0.01, le=50, description="Calls started per second on each caller ID"
    )

    _aware_start = field_validator("scheduled_at")(_aware)

    def changes(self) -> dict[str, Any]:
        """The fields sent, under the service's names."""
        sent = self.model_dump(exclude_unset=True, exclude={"concurrency", "retry_attempts"})
        if self.concurrency is not None and "max_concurrent_calls" not in sent:
            sent["max_concurrent_calls"] = self.concurrency
        if self.retry_attempts is not None and "max_retry_attempts" not in sent:
            sent["max_retry_attempts"] = self.retry_attempts
        if sent.get("phone_number_ids") is not None:
            sent["phone_number_ids"] = [str(i) for i in sent["phone_number_ids"]]
        if sent.get("retry_policy") is not None:
            sent["retry_policy"] = {str(k.value): v for k, v in sent["retry_policy"].items()}
        return sent


class BatchCreate(_Settings):
    name: Annotated[StoredText, Field(min_length=1, max_length=255)]
    agent_id: UUID
    contact_source: Literal["csv", "folder", "manual"] = "csv"
    contact_folder_id: UUID | None = None
    contact_ids: list[UUID] = Field(default_factory=list, max_length=10_000)
    contacts: list[BatchContactIn] = Field(default_factory=list, max_length=10_000)

    def to_new(self) -> service.NewBatch:
        values = {k: v for k, v in self.changes().items() if v is not None}
        for name in ("contacts", "contact_ids", "contact_folder_id"):
            values.pop(name, None)
        values["agent_id"] = str(self.agent_id)
        values["contact_source"] = self.contact_source
        values["contact_folder_id"] = (
            str(self.contact_folder_id) if self.contact_folder_id else None
        )
        return service.NewBatch(
            config=service.BatchConfig(**values),
            contacts=[c.model_dump(exclude_none=True) for c in self.contacts],
            contact_ids=[str(i) for i in self.contact_ids],
        )


class BatchUpdate(_Settings):
    name: Annotated[StoredText, Field(min_length=1, max_length=255)] | None = None


class ScheduleIn(BaseModel):
    model_config = _INPUT

    scheduled_at: datetime | None = Field(default=None, description="Omit to start now")
    timezone: Timezone | None = None

    _aware_start = field_validator("scheduled_at")(_aware)


class ContactsIn(BaseModel):
    model_config = _INPUT

    contacts: list[dict[str, Any]] = Field(
        min_length=1, max_length=10_000, description="Like BatchContactIn; invalid ones fail"
    )


class BatchOut(BaseModel):
    id: str
    name: str
    status: BatchStatus
    agent_id: str
    phone_number_ids: list[str]
    phone_rotation_strategy: Rotation
    contact_source: str
    contact_folder_id: str | None
    schedule_type: str
    scheduled_at: datetime | None
    timezone: str
    start_time: str | None
    end_time: str | None
    working_days: list[int]
    max_concurrent_calls: int
    concurrency: int = Field(description="Alias of max_concurrent_calls")
    max_calls_per_day: int | None
    retry_failed: bool
    max_retry_attempts: int
    retry_attempts: int = Field(description="Alias of max_retry_attempts")
    retry_policy: dict[str, Any]
    calls_per_second: float
    total_contacts: int
    called: int = Field(description="Contacts tried at least once")
    completed: int = Field(description="Contacts whose last call completed")
    failed: int = Field(description="Contacts that ended otherwise (skipped included)")
    pending: int = Field(description="Contacts not finished: waiting or on a call")
    paused_at: datetime | None
    resumed_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, batch: Batch) -> BatchOut:
        return cls.model_validate(batch.to_json())


class BatchStatusOut(BaseModel):
    id: str
    status: BatchStatus
    scheduled_at: datetime | None = None
    timezone: str | None = None
    paused_at: datetime | None = None
    resumed_at: datetime | None = None


class BatchContactOut(BaseModel):
    id: str = Field(description="The batch contact's id")
    contact_id: str | None = Field(description="The contact it was copied from, if any")
    phone_number: str
    first_name: str | None
    last_name: str | None
    email: str | None
    timezone: str | None
    custom_fields: dict[str, Any]
    call_status: ContactStatus
    attempts: int
    scheduled_at: datetime | None = Field(description="When it is next due")
    call_id: str | None = Field(description="Its latest call")
    last_outcome: str | None
    called_at: datetime | None

    @classmethod
    def of(cls, contact: batch_contacts.BatchContact) -> BatchContactOut:
        return cls.model_validate(contact, from_attributes=True)


class ContactsAdded(BaseModel):
    added_count: int
    failed_count: int


class BatchDeleted(BaseModel):
    id: str
    deleted: bool = True


class AnalyticsOut(BaseModel):
    batch_id: str
    contacts_by_status: dict[str, int]
    contacts_by_outcome: dict[str, int]
    calls: int = Field(description="Every call placed for the batch, retries included")
    connected: int
    failed: int
    pending: int
    average_duration_seconds: float | None
    total_cost_usd: str
