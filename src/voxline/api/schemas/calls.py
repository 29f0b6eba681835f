"""Request and response bodies of the Calls API (``seed/calls-api.md``)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    field_validator,
)

from voxline.api.schemas.text import JsonObject, StoredText, Variables
from voxline.domain.agents import GREETING_MAX
from voxline.domain.calls import CallDirection, CallStatus
from voxline.domain.durations import DURATION_PATTERN, format_duration
from voxline.domain.money import as_api_number
from voxline.domain.phone import E164_PATTERN
from voxline.services.call_queries import Transcript
from voxline.services.call_records import Call
from voxline.services.call_timeline import TimelineEntry
from voxline.services.calls import CallChanges, NewCall, SettingsChanges, SettingsOverrides

# What GET /calls accepts in ``status``: the statuses and their aliases (STATUS_ALIASES).
StatusFilter = Literal[
    "queued",
    "ringing",
    "in_progress",
    "completed",
    "failed",
    "no_answer",
    "busy",
    "voicemail",
    "in-progress",
    "ended",
]

Phone = Annotated[StrictStr, Field(pattern=E164_PATTERN, examples=["+14155550123"])]
Duration = Annotated[
    StrictStr, Field(pattern=DURATION_PATTERN, max_length=32, examples=["600s", "1.5s", "10m"])
]
Greeting = Annotated[StoredText, Field(strict=True, max_length=GREETING_MAX)]

_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?", re.ASCII
)


def _date_time_text(value: object) -> object:
    # Pydantic alone would also take Unix timestamps ("0.5"); the API promises ISO-8601 text.
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise ValueError("must be an ISO-8601 date-time such as 2026-03-01T12:00:00Z")
    return value


# A query instant: ISO-8601 date and time; without an offset it is taken as UTC.
IsoDateTime = Annotated[datetime, BeforeValidator(_date_time_text)]


class CallSettingsIn(BaseModel):
    """Per-call overrides of the agent's settings."""

    model_config = ConfigDict(extra="forbid")

    recording_enabled: StrictBool | None = Field(
        default=None, description="Default: the agent's recording_enabled"
    )
    transcription_enabled: StrictBool | None = Field(default=None, description="Default: true")
    greeting: Greeting | None = Field(default=None, description="Replaces the agent's greeting")
    max_duration: Duration | None = Field(default=None, description='e.g. "600s"; 10s to 4h')
    join_timeout: Duration | None = Field(default=None, description='e.g. "30s"; 1s to 300s')


class CallCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: UUID = Field(description="An active agent of your organization")
    phone_number: Phone = Field(description="Destination, E.164")
    from_number: Phone | None = Field(
        default=None,
        description="Caller ID; must be assigned to the agent for outbound. "
        "Default: the agent's oldest outbound number",
    )
    variables: Variables | None = Field(
        default=None,
        description="Template variables; numbers and booleans are kept as their JSON text",
    )
    context: Variables | None = Field(
        default=None,
        description="Older name of variables",
        # Documented as deprecated; pydantic's own flag would warn on every read.
        json_schema_extra={"deprecated": True},
    )
    call_settings: CallSettingsIn | None = None

    def to_new_call(self) -> NewCall:
        settings = self.call_settings or CallSettingsIn()
        return NewCall(
            agent_id=str(self.agent_id),
            phone_number=self.phone_number,
            from_number=self.from_number,
            variables=self.variables,
            legacy_context=self.context,
            overrides=SettingsOverrides(
                recording_enabled=settings.recording_enabled,
                transcription_enabled=settings.transcription_enabled,
                greeting=settings.greeting,
                max_duration=settings.max_duration,
                join_timeout=settings.join_timeout,
            ),
        )


class CallSettingsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recording_enabled: StrictBool | None = None
    transcription_enabled: StrictBool | None = None


def _update_schema(schema: dict[str, Any]) -> None:
    # At least one field; each may be omitted but is never null.
    schema["minProperties"] = 1
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)
        options = prop.pop("anyOf", None)
        if options:
            prop.update(next(o for o in options if o.get("type") != "null"))


class CallUpdate(BaseModel):
    """At least one of the two fields; only the fields given change."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=lambda schema, _: _update_schema(schema)
    )

    context: JsonObject | None = Field(
        default=None, description="Shallow-merged into the call's context"
    )
    call_settings: CallSettingsPatch | None = None

    @field_validator("context", "call_settings", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Omitted means "keep"; an explicit null would mean nothing, so it is refused.
        if value is None:
            raise ValueError("must be an object when given")
        return value

    def to_changes(self) -> CallChanges:
        settings = self.call_settings
        return CallChanges(
            context=self.context,
            settings=None
            if settings is None
            else SettingsChanges(settings.recording_enabled, settings.transcription_enabled),
        )


class CallSettingsOut(BaseModel):
    recording_enabled: bool
    transcription_enabled: bool
    greeting: str | None
    max_duration: str = Field(examples=["600s"])
    join_timeout: str = Field(examples=["30s"])


class CallOut(BaseModel):
    id: UUID
    agent_id: UUID | None = Field(
        description="The call's agent; null for an inbound call no agent took"
    )
    phone_number: str = Field(description="The contact: destination (outbound) or caller (inbound)")
    from_number: str | None
    direction: CallDirection
    status: CallStatus
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    cost_usd: float | None
    summary: str | None
    recording_url: str | None
    context: dict[str, Any]
    variables: dict[str, str]
    call_settings: CallSettingsOut
    end_reason: str | None
    answered_by: str | None
    metrics: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, call: Call) -> CallOut:
        settings = call.settings
        return cls(
            id=UUID(call.id),
            agent_id=UUID(call.agent_id) if call.agent_id is not None else None,
            phone_number=call.phone_number,
            from_number=call.from_number,
            direction=call.direction,
            status=call.status,
            started_at=call.started_at,
            ended_at=call.ended_at,
            duration_seconds=call.duration_seconds,
            cost_usd=as_api_number(call.cost_usd) if call.cost_usd is not None else None,
            summary=call.summary,
            recording_url=call.recording_url,
            context=call.context,
            variables=call.variables,
            call_settings=CallSettingsOut(
                recording_enabled=settings.recording_enabled,
                transcription_enabled=settings.transcription_enabled,
                greeting=settings.greeting,
                max_duration=format_duration(settings.max_duration_seconds),
                join_timeout=format_duration(settings.join_timeout_seconds),
            ),
            end_reason=call.end_reason,
            answered_by=call.answered_by,
            metrics=call.metrics,
            created_at=call.created_at,
            updated_at=call.updated_at,
        )


class CallDeleted(BaseModel):
    id: UUID
    deleted: bool


class BulkDeleteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[UUID] = Field(min_length=1, max_length=100)


class BulkDeleteOut(BaseModel):
    deleted_count: int
    failed_count: int
    deleted_ids: list[str]
    failed_ids: list[str]


class RecordingOut(BaseModel):
    recording_url: str = Field(description="Expiring signed URL, or the provider's URL")


class TranscriptTurnOut(BaseModel):
    speaker: Literal["agent", "contact"]
    text: str
    timestamp: float = Field(description="Seconds from the start of the call")


class TranscriptOut(BaseModel):
    call_id: UUID
    transcript: list[TranscriptTurnOut]
    summary: str | None

    @classmethod
    def from_record(cls, transcript: Transcript) -> TranscriptOut:
        return cls(
            call_id=UUID(transcript.call_id),
            transcript=[
                TranscriptTurnOut.model_validate(
                    {"speaker": t.speaker, "text": t.text, "timestamp": t.timestamp}
                )
                for t in transcript.turns
            ],
            summary=transcript.summary,
        )


class TimelineEntryOut(BaseModel):
    seq: int = Field(description="Position in the call's timeline, from 1")
    type: str = Field(
        description=(
            "call.queued, call.ringing, call.started, call.ended (status changes), "
            "call.tool_called, call.transferred, call.dtmf_sent, call.barge_in, "
            "call.barge_in_ignored"
        )
    )
    at: datetime
    data: dict[str, Any] = Field(
        description=(
            "A status change: status, end_reason, answered_by. A tool call: name, tool_call_id, "
            "arguments, result (both cut to 500 characters), latency_ms, outcome (ok or "
            "error), offset_s (seconds into the call). A transfer: to, status. Keys: digits, "
            "via (carrier or tones). Speech over the agent that did not cut it: verdict "
            "(backchannel, noise or echo)."
        )
    )


class TimelineOut(BaseModel):
    call_id: UUID
    events: list[TimelineEntryOut]

    @classmethod
    def from_entries(cls, call_id: str, entries: list[TimelineEntry]) -> TimelineOut:
        return cls(
            call_id=UUID(call_id),
            events=[
                TimelineEntryOut(seq=e.seq, type=e.type, at=e.at, data=e.data) for e in entries
            ],
        )
