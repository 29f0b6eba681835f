"""The port every telephony provider implements, in provider-neutral terms.

The port is stateless: every operation on a call receives a :class:`ProviderCall`, the
provider's reference to it with the decrypted credentials of the call's own number, so any
process can hang up, inspect or fetch the recording of any call, whichever process placed
it, whether it came in or went out, and after any restart. Providers remember nothing
between operations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.domain.phone import is_keypad_digits, is_transfer_destination
from voxline.errors import ProviderError
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
    leave_voicemail: bool = False


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


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One call as a provider knows it: our id, the provider's id (None until the provider
    named it) and the credentials of the account that carries it (None on the sandbox)."""

    call_id: str
    provider_call_id: str | None
    credentials: ProviderCredentials | None


def checked_digits(provider: str, digits: str) -> str:
    """``digits`` when they are keypad keys; else a final ProviderError, nothing sent."""
    if not is_keypad_digits(digits):
        raise ProviderError(
            "Keys to press must be 0-9, *, #, A-D, w or W (at most 64)",
            provider=provider,
            retryable=False,
        )
    return digits


def checked_destination(provider: str, destination: str) -> str:
    """``destination`` when a call can be handed to it (E.164 or a SIP URI); else a final
    ProviderError, nothing sent."""
    if not is_transfer_destination(destination):
        raise ProviderError(
            "A transfer destination must be an E.164 number or a SIP URI",
            provider=provider,
            retryable=False,
        )
    return destination


class PlacementState(StrEnum):
    """What a provider knows of a placement attempt, asked during crash recovery."""

    PLACED = "placed"
    NOT_PLACED = "not_placed"
    UNKNOWN = "unknown"


EventSink = Callable[[ProviderEvent], Awaitable[None]]


class TelephonyProvider(Protocol):
    """Dial, hang up, fetch recordings and answer recovery questions for one provider.

    Every method raises :class:`~voxline.errors.ProviderError` (with its ``retryable`` bit)
    when the provider fails or the credentials are not the provider's.
    """

    name: str

    async def place_call(self, request: PlacementRequest) -> str:
        """Start dialing; returns the provider's call id."""

    async def hangup(self, call: ProviderCall) -> None:
        """End the call if it is still up, or cancel it while it rings (idempotent: a call
        the provider no longer knows counts as ended)."""

    async def placement_state(self, call: ProviderCall) -> PlacementState:
        """Whether the call was placed, for recovery after a crash (UNKNOWN when the
        provider cannot tell)."""

    async def recording_url(self, call: ProviderCall) -> str | None:
        """Where the provider's recording of the call can be downloaded, or None."""

    async def send_digits(self, call: ProviderCall, digits: str) -> bool:
        """Press keypad keys on the live call through the provider's API (``0-9*#A-D``,
        ``w`` and ``W`` for pauses), to navigate a phone menu. False, with nothing sent,
        when the provider takes keys during a media stream only as tones in the call's
        audio: the caller then plays them itself."""

    async def transfer(self, call: ProviderCall, destination: str) -> None:
        """Hand the contact to ``destination`` (an E.164 number or a SIP URI) and leave:
        the provider bridges the contact's leg there, and Voxline's media stream ends."""

    async def aclose(self) -> None:
        """Release what the provider holds (its HTTP client)."""
