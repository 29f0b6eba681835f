"""Request and response bodies of ``/agents``.

The limits here come from :mod:`voxline.domain.agents` so the OpenAPI document states them;
the service applies the same rules again for callers other than the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field, StringConstraints

from voxline.api.schemas.text import StoredText
from voxline.api.schemas.tools import AgentTool, ToolEntries
from voxline.domain import agents as rules
from voxline.domain.agents import AgentStatus
from voxline.domain.durations import (
    DURATION_PATTERN,
    JOIN_TIMEOUT_BOUNDS,
    MAX_DURATION_BOUNDS,
    format_duration,
)
from voxline.services import agents as service

_DURATION_PATTERN = DURATION_PATTERN
# Search semantics, as in JSON Schema: somewhere a character that is not white space.
_NOT_BLANK = r"\S"


def _not_blank(maximum: int) -> StringConstraints:
    """Text with something besides white space; surrounding white space is dropped."""
    return StringConstraints(
        strip_whitespace=True, min_length=1, max_length=maximum, pattern=_NOT_BLANK
    )


def _duration_help(what: str, minimum: float, maximum: float) -> str:
    return (
        f'{what}, e.g. "30s", "500ms", "10m" or "1h"; '
        f"{format_duration(minimum)} to {format_duration(maximum)}"
    )


Name = Annotated[StoredText, _not_blank(rules.NAME_MAX)]
SystemPrompt = Annotated[
    StoredText,
    _not_blank(rules.SYSTEM_PROMPT_MAX),
    Field(description="Instructions for the model; {{variables}} are filled in per call"),
]
Description = Annotated[
    StoredText,
    Field(max_length=rules.DESCRIPTION_MAX, description="Internal note, not used on calls"),
]
Greeting = Annotated[
    StoredText,
    Field(max_length=rules.GREETING_MAX, description="First words the agent says"),
]
ModelName = Annotated[
    StoredText,
    _not_blank(rules.MODEL_MAX),
    Field(
        description='LLM model name, or "scripted" for the built-in deterministic brain; '
        "default: the deployment's configured LLM model, else scripted"
    ),
]
VoiceId = Annotated[StoredText, Field(max_length=100, description="Id of a voice from GET /voices")]
Temperature = Annotated[float, Field(ge=0, le=1)]
LanguageHint = Annotated[
    str,
    Field(
        pattern=rules.LANGUAGE_HINT_PATTERN,
        max_length=rules.LANGUAGE_HINT_MAX,
        description="BCP-47 language tag",
    ),
]
JoinTimeout = Annotated[
    str,
    Field(
        pattern=_DURATION_PATTERN,
        max_length=32,
        description=_duration_help(
            "How long a call may ring before it is given up",
            JOIN_TIMEOUT_BOUNDS.minimum,
            JOIN_TIMEOUT_BOUNDS.maximum,
        ),
    ),
]
MaxDuration = Annotated[
    str,
    Field(
        pattern=_DURATION_PATTERN,
        max_length=32,
        description=_duration_help(
            "Longest a call may last",
            MAX_DURATION_BOUNDS.minimum,
            MAX_DURATION_BOUNDS.maximum,
        ),
    ),
]
WritableStatus = Literal["active", "draft"]

_INPUT = ConfigDict(extra="forbid", strict=True)


class AgentCreate(BaseModel):
    model_config = _INPUT

    name: Name
    system_prompt: SystemPrompt
    description: Description | None = None
    greeting: Greeting | None = None
    model: ModelName | MISSING = MISSING
    voice_id: VoiceId | None = None
    temperature: Temperature = rules.DEFAULT_TEMPERATURE
    language_hint: LanguageHint = rules.DEFAULT_LANGUAGE_HINT
    recording_enabled: bool = True
    dnc_on_request: bool = Field(
        default=False,
        description="A contact who asks not to be called again goes on the do-not-call list",
    )
    join_timeout: JoinTimeout = rules.DEFAULT_JOIN_TIMEOUT
    max_duration: MaxDuration = rules.DEFAULT_MAX_DURATION
    status: WritableStatus = "active"
    tools: ToolEntries = Field(default_factory=list)

    def to_draft(self) -> service.AgentDraft:
        return service.AgentDraft(
            name=self.name,
            system_prompt=self.system_prompt,
            description=self.description,
            greeting=self.greeting,
            model=None if self.model is MISSING else self.model,
            voice_id=self.voice_id,
            temperature=self.temperature,
            language_hint=self.language_hint,
            recording_enabled=self.recording_enabled,
            dnc_on_request=self.dnc_on_request,
            join_timeout=self.join_timeout,
            max_duration=self.max_duration,
            status=AgentStatus(self.status),
            tools=tuple(self.tools),
        )


class AgentUpdate(BaseModel):
    """Every field is optional and only the fields sent change. ``description``, ``greeting``
    and ``voice_id`` may be set to null; the other fields may not."""

    model_config = _INPUT

    name: Name | MISSING = MISSING
    system_prompt: SystemPrompt | MISSING = MISSING
    description: Description | MISSING | None = MISSING
    greeting: Greeting | MISSING | None = MISSING
    model: ModelName | MISSING = MISSING
    voice_id: VoiceId | MISSING | None = MISSING
    temperature: Temperature | MISSING = MISSING
    language_hint: LanguageHint | MISSING = MISSING
    recording_enabled: bool | MISSING = MISSING
    dnc_on_request: bool | MISSING = MISSING
    join_timeout: JoinTimeout | MISSING = MISSING
    max_duration: MaxDuration | MISSING = MISSING
    status: WritableStatus | MISSING = MISSING
    tools: ToolEntries | MISSING = MISSING

    def to_changes(self) -> service.AgentChanges:
        # MISSING fields are left out of the dump, so they stay UNSET in the changes.
        return service.AgentChanges(**self.model_dump())


class PhoneNumberRef(BaseModel):
    id: str
    phone_number: str


class Agent(BaseModel):
    id: str = Field(description="UUID")
    name: str
    description: str | None
    system_prompt: str
    greeting: str | None
    model: str
    voice_id: str | None
    temperature: float
    language_hint: str | None
    recording_enabled: bool
    dnc_on_request: bool = Field(
        description="A contact who asks not to be called again goes on the do-not-call list"
    )
    join_timeout: str = Field(description='Duration such as "30s"')
    max_duration: str = Field(description='Duration such as "3600s"')
    status: AgentStatus
    inbound_phone_numbers: list[PhoneNumberRef] = Field(
        description="Numbers whose inbound calls this agent answers"
    )
    outbound_phone_numbers: list[PhoneNumberRef] = Field(
        description="Numbers this agent may call from"
    )
    tools: list[AgentTool] = Field(description="The agent's tools, in order")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, agent: service.Agent) -> Agent:
        return cls(
            id=agent.id,
            name=agent.name,
            description=agent.description,
            system_prompt=agent.system_prompt,
            greeting=agent.greeting,
            model=agent.model,
            voice_id=agent.voice_id,
            temperature=agent.temperature,
            language_hint=agent.language_hint,
            recording_enabled=agent.recording_enabled,
            dnc_on_request=agent.dnc_on_request,
            join_timeout=format_duration(agent.join_timeout_seconds),
            max_duration=format_duration(agent.max_duration_seconds),
            status=agent.status,
            inbound_phone_numbers=[
                PhoneNumberRef(id=n.id, phone_number=n.phone_number) for n in agent.inbound_numbers
            ],
            outbound_phone_numbers=[
                PhoneNumberRef(id=n.id, phone_number=n.phone_number) for n in agent.outbound_numbers
            ],
            tools=[AgentTool.of(link) for link in agent.tools],
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        )


class AgentDeleted(BaseModel):
    id: str
    deleted: Literal[True] = True
