"""What an agent can do besides talking: its HTTP tools and its built-in call-control tools.

The pure part: the shapes an agent's tools take once validated. The Tools API
(``api/routes/tools.py``) parses a client's ``definition`` into an :class:`HttpTool`; an agent
enables tools by id or name, built-ins by name, and a live call's session is given its
:class:`AgentTools`.

Built-in tools:

- ``end_call``: hang up once the goodbye has been said (always available);
- ``transfer_call``: a cold transfer to one of the agent's configured destinations;
- ``send_dtmf``: press keypad keys (a phone menu);
- ``leave_voicemail``: on an answering machine, wait for the beep, say the agent's message and
  hang up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MODEL_TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 120.0
DEFAULT_FILLER_DELAY_SECONDS = 0.8
DEFAULT_FILLER_TEXT = "One moment, please."


class BuiltinTool(StrEnum):
    END_CALL = "end_call"
    TRANSFER_CALL = "transfer_call"
    SEND_DTMF = "send_dtmf"
    LEAVE_VOICEMAIL = "leave_voicemail"


BUILTIN_NAMES = frozenset(t.value for t in BuiltinTool)


class ParameterLocation(StrEnum):
    BODY = "body"
    QUERY = "query"
    HEADER = "header"
    PATH = "path"


class KnownValue(StrEnum):
    """Values the platform fills in (``automaticParameters``)."""

    CALL_ID = "call_id"
    CALLER_NUMBER = "caller_number"  # the number the call is from
    CALLEE_NUMBER = "callee_number"  # the number the call is to
    CONVERSATION_HISTORY = "conversation_history"  # [{speaker, text}] so far


@dataclass(frozen=True, slots=True)
class DynamicParameter:
    """A value the model fills in, checked against ``schema`` (JSON Schema)."""

    name: str
    location: ParameterLocation
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True, slots=True)
class StaticParameter:
    """A fixed value sent with every request (a header value may be a secret)."""

    name: str
    location: ParameterLocation
    value: Any


@dataclass(frozen=True, slots=True)
class AutomaticParameter:
    name: str
    location: ParameterLocation
    known_value: KnownValue


@dataclass(frozen=True, slots=True)
class Filler:
    """What the agent says when a tool is slow: ``text`` once ``delay_seconds`` passed."""

    delay_seconds: float = DEFAULT_FILLER_DELAY_SECONDS
    text: str = DEFAULT_FILLER_TEXT


@dataclass(frozen=True, slots=True)
class HttpTool:
    """An HTTP tool as a live call uses it (header secrets decrypted)."""

    model_tool_name: str
    description: str
    url: str  # ``baseUrlPattern``; ``{name}`` placeholders take path parameters
    method: str  # GET, POST, PUT, PATCH or DELETE
    dynamic_parameters: tuple[DynamicParameter, ...] = ()
    static_parameters: tuple[StaticParameter, ...] = ()
    automatic_parameters: tuple[AutomaticParameter, ...] = ()
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    filler: Filler = field(default_factory=Filler)
    tool_id: str | None = None

    def model_parameters(self) -> dict[str, Any]:
        """The JSON Schema of the arguments the model writes: one property per dynamic
        parameter."""
        return {
            "type": "object",
            "properties": {p.name: p.schema for p in self.dynamic_parameters},
            "required": [p.name for p in self.dynamic_parameters if p.required],
        }


@dataclass(frozen=True, slots=True)
class TransferDestination:
    """Where ``transfer_call`` may send the caller: an E.164 number or a SIP URI."""

    to: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TransferSettings:
    destinations: tuple[TransferDestination, ...]
    message: str | None = None  # said before the transfer, e.g. "Let me put you through."


@dataclass(frozen=True, slots=True)
class VoicemailSettings:
    message: str  # may use the call's {{variables}}


@dataclass(frozen=True, slots=True)
class AgentTools:
    """Everything an agent may call during a call. ``end_call`` is always available."""

    http: tuple[HttpTool, ...] = ()
    transfer: TransferSettings | None = None
    send_dtmf: bool = False
    voicemail: VoicemailSettings | None = None
