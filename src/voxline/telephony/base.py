"""The port every telephony provider implements, in provider-neutral terms."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.telephony.credentials import ProviderCredentials


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """Everything a provider needs to dial one outbound call."""

    call_id: str
    org_id: str
    agent_id: str
    to_number: str
    from_number: str
    provider_type: str
    join_timeout_seconds: float
    credentials: ProviderCredentials | None = None


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A change in a call's life reported by a provider (or the sandbox)."""

    call_id: str
    event: CallEvent
    at: datetime
    provider_call_id: str | None = None
    answered_by: AnsweredBy | None = None
    end_reason: EndReason | None = None
    cause: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class PlacementState(StrEnum):
    """What a provider knows of a placement attempt, asked during crash recovery."""

    PLACED = "placed"
    NOT_PLACED = "not_placed"
    UNKNOWN = "unknown"


EventSink = Callable[[ProviderEvent], Awaitable[None]]


class TelephonyProvider(Protocol):
    """Dial, hang up and answer recovery questions for one provider."""

    name: str

    async def place_call(self, request: PlacementRequest) -> str:
        """Start dialing; returns the provider's call id. Raises ``ProviderError``."""

    async def hangup(self, provider_call_id: str) -> None:
        """End the call if it is still up (idempotent). Raises ``ProviderError``."""

    async def placement_state(self, call_id: str) -> PlacementState:
        """Whether a call with our id was placed, for recovery after a crash."""
