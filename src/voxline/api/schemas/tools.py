"""Request and response bodies of ``/tools``, and the ``tools`` of an agent.

A ``definition`` and an agent's tool entries are checked by the domain
(:mod:`voxline.domain.tool_definitions`, :mod:`voxline.domain.agent_tools`), which names the JSON
path at fault (``definition.dynamicParameters[1].schema.type``, ``tools[0].overrides``); here
they are free JSON with their shape documented for OpenAPI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from voxline.api.schemas.text import StoredText
from voxline.domain import tool_definitions as rules
from voxline.domain.durations import parse_duration
from voxline.domain.tools import MODEL_TOOL_NAME_PATTERN
from voxline.services import agent_tools as links
from voxline.services import tools as service

_LOCATION = {
    "type": "string",
    "enum": ["body", "query", "header", "path"],
    "description": "Also PARAMETER_LOCATION_BODY, _QUERY, _HEADER, _PATH; stored short",
}
_FILLER = {
    "type": ["object", "null"],
    "properties": {
        "delayMs": {"type": "integer", "minimum": 0, "maximum": rules.FILLER_DELAY_MAX_MS},
        "text": {"type": "string", "minLength": 1, "maxLength": rules.FILLER_TEXT_MAX},
    },
    "description": f"Said when the tool is slow (default after {rules.DEFAULT_FILLER_DELAY_MS} ms)",
}
_TIMEOUT = {
    "type": "string",
    "description": f'Duration such as "10s" or "1.5s"; default {rules.DEFAULT_TIMEOUT}, at most '
    f"{rules.TIMEOUT_BOUNDS.maximum:g}s",
}
_STATIC = {
    "type": "object",
    "required": ["name", "value"],
    "properties": {
        "name": {"type": "string"},
        "location": _LOCATION,
        "value": {
            "description": 'A header value is a secret: stored encrypted, shown as "********" '
            "(with secret: true); sending the mask back keeps the stored value"
        },
        "secret": {"type": "boolean", "readOnly": True},
    },
}
DEFINITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Canonical (Ultravox-style) tool definition",
    "properties": {
        "modelToolName": {
            "type": "string",
            "pattern": MODEL_TOOL_NAME_PATTERN,
            "description": "The name the model sees; default: the tool's name; not a built-in",
        },
        "type": {"type": "string", "enum": ["http"]},
        "description": {"type": "string", "maxLength": rules.DESCRIPTION_MAX},
        "http": {
            "type": ["object", "null"],
            "properties": {
                "baseUrlPattern": {
                    "type": "string",
                    "description": "Absolute http(s) URL, no credentials; {name} placeholders "
                    "in the path take path parameters. Alias: url",
                },
                "httpMethod": {
                    "type": "string",
                    "enum": list(rules.METHODS),
                    "description": "Default GET. Alias: method",
                },
            },
        },
        "dynamicParameters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "location": _LOCATION,
                    "schema": {"type": "object", "description": "JSON Schema (2020-12)"},
                    "required": {"type": "boolean"},
                },
            },
        },
        "staticParameters": {"type": "array", "items": _STATIC},
        "automaticParameters": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "knownValue"],
                "properties": {
                    "name": {"type": "string"},
                    "location": _LOCATION,
                    "knownValue": {
                        "type": "string",
                        "enum": [
                            "call_id",
                            "caller_number",
                            "callee_number",
                            "conversation_history",
                        ],
                        "description": "Also KNOWN_PARAM_CALL_ID etc.",
                    },
                },
            },
        },
        "timeout": _TIMEOUT,
        "filler": _FILLER,
    },
}
Definition = Annotated[dict[str, Any], WithJsonSchema(DEFINITION_SCHEMA)]

_TOOL_ENTRY_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {"type": "string", "description": "A tool id, or a built-in's or a tool's name"},
        {
            "type": "object",
            "properties": {
                "tool_id": {"type": "string", "format": "uuid"},
                "name": {
                    "type": "string",
                    "description": "end_call, transfer_call, send_dtmf, leave_voicemail, or "
                    "the name or modelToolName of one of the organization's tools",
                },
                "overrides": {
                    "type": "object",
                    "description": "HTTP tool: description, timeout, staticParameters "
                    "[{name, value}], filler. transfer_call: destinations [{to, description}] "
                    "(required, 1-20; E.164 or sip: URI) and message. leave_voicemail: "
                    "message (required). end_call, send_dtmf: none",
                },
            },
        },
    ]
}
ToolEntries = Annotated[
    list[Any],
    WithJsonSchema(
        {
            "type": "array",
            "items": _TOOL_ENTRY_SCHEMA,
            "description": "The agent's tools, in order; each names a tool (tool_id or name) "
            "or a built-in; names are resolved to tool ids when saved",
        }
    ),
]

Name = Annotated[
    StoredText,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.NAME_MAX),
]

_INPUT = ConfigDict(extra="forbid", strict=True)


class ToolCreate(BaseModel):
    """``name`` is required unless ``definition.modelToolName`` is given; without a
    ``definition`` the tool is a placeholder that agents cannot enable yet."""

    model_config = _INPUT

    name: Name | None = None
    definition: Definition | None = None


class ToolUpdate(BaseModel):
    """Only the fields sent change; a ``definition`` replaces the whole definition."""

    model_config = _INPUT

    name: Name | MISSING = MISSING
    definition: Definition | MISSING = MISSING

    def to_changes(self) -> service.ToolChanges:
        return service.ToolChanges(**self.model_dump())


class Tool(BaseModel):
    id: str = Field(description="UUID")
    name: str
    definition: dict[str, Any] | None = Field(
        description="Canonical definition, secrets masked; null for a placeholder"
    )
    type: Literal["http"] = "http"
    description: str | None = Field(description="definition.description")
    url: str | None = Field(description="definition.http.baseUrlPattern")
    method: str | None = Field(description="definition.http.httpMethod")
    timeout_seconds: float | None = Field(description="definition.timeout in seconds")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, tool: service.Tool) -> Tool:
        definition = tool.definition or {}
        http = definition.get("http") or {}
        timeout = definition.get("timeout")
        return cls(
            id=tool.id,
            name=tool.name,
            definition=tool.definition,
            description=definition.get("description"),
            url=http.get("baseUrlPattern"),
            method=http.get("httpMethod"),
            timeout_seconds=None if timeout is None else parse_duration(timeout),
            created_at=tool.created_at,
            updated_at=tool.updated_at,
        )


class ToolDeleted(BaseModel):
    id: str
    deleted: Literal[True] = True


class AgentTool(BaseModel):
    """One of an agent's tools."""

    tool_id: str | None = Field(description="The tool's id; null for a built-in")
    name: str = Field(description="The tool's current name, or the built-in's")
    overrides: dict[str, Any] = Field(description="The agent's overrides; secrets masked")

    @classmethod
    def of(cls, link: links.ToolLink) -> AgentTool:
        return cls(tool_id=link.tool_id, name=link.name, overrides=link.overrides)
