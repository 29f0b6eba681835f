"""What reaches Voxline from a provider, in provider-neutral terms: webhooks and media streams.

Each carrier's package has a ``callbacks.py`` whose handler object turns the provider's
webhooks (``/webhooks/{provider}/{kind}``) into a reply and admits its media streams
(``/media/{provider}``); one router in ``api/providers`` serves every provider through them.
What the handlers need of Voxline (the calls and numbers a signature speaks for, applying
events once, answering inbound calls, media tokens) they ask of a :class:`CallbackHost`,
which the API implements: the telephony layer never touches the database.

Every body here is untrusted until a signature verifies: the parsing helpers refuse what is
too deep or not text (400) before anything else looks at it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, repeat
from typing import Any, Protocol
from urllib.parse import parse_qsl

from voxline.domain.calls import CallDirection, CallStatus
from voxline.errors import BadRequest, Forbidden
from voxline.telephony.base import ProviderEvent
from voxline.telephony.credentials import ProviderCredentials
from voxline.telephony.websocket import MediaCodec

XML = "application/xml"
INVALID_SIGNATURE = "Invalid webhook signature"

Verifier = Callable[[ProviderCredentials], bool]
KeyPart = str | Iterable[tuple[str, str]]


def refused() -> Forbidden:
    """The one answer to a webhook that is not signed by the account it speaks for."""
    return Forbidden(INVALID_SIGNATURE)


def event_key(*parts: KeyPart) -> str:
    """A fixed-size key of signed content: strings and (name, value) pairs, in the given
    order (pairs sorted, so their order in the body does not matter)."""
    digest = hashlib.sha256()
    for part in parts:
        items = [part] if isinstance(part, str) else [f"{k}={v}" for k, v in sorted(part)]
        for item in items:
            digest.update(item.encode("utf-8", "surrogatepass"))
            digest.update(b"\x00")
        digest.update(b"\x01")
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One provider request to ``/webhooks/{provider}/{kind}``, as received.

    ``url`` is the URL the provider requested as it knows Voxline (under the public base
    URL, query included): signatures are computed over it. ``headers`` have lower-case
    names; ``body`` was read within the configured size limit.
    """

    kind: str
    method: str
    url: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    max_json_depth: int

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What Voxline answers: 204 and nothing, or a document (TwiML, Plivo XML)."""

    status: int = 204
    body: str = ""
    media_type: str | None = None

    @classmethod
    def document(cls, body: str, media_type: str = XML) -> WebhookReply:
        return cls(200, body, media_type)


@dataclass(frozen=True, slots=True)
class SignedCall:
    """A call a verified webhook speaks of, with the credentials that verified it."""

    call_id: str
    org_id: str
    status: CallStatus
    provider_call_id: str | None
    credentials: ProviderCredentials


@dataclass(frozen=True, slots=True)
class InboundNumber:
    """One of our numbers a contact dialed, with its account's credentials."""

    number_id: str
    phone_number: str
    credentials: ProviderCredentials


@dataclass(frozen=True, slots=True)
class InboundAnswer:
    """The call recorded for an inbound request; ``answered`` False: turn it away."""

    call_id: str
    answered: bool


@dataclass(frozen=True, slots=True)
class MediaAdmission:
    """How a provider's media socket is checked and read: its codec, our call id from the
    URL (if the provider puts it there), the media token presented at the upgrade (header
    or URL), and a check of the upgrade's own signature (if the provider signs it)."""

    codec: MediaCodec
    url_call_id: str | None = None
    upgrade_token: str | None = None
    upgrade_signed: Verifier | None = None


class CallbackHost(Protocol):
    """What a provider's callback handler asks of Voxline."""

    async def signed_call(
        self, verifies: Verifier, *, call_id: str | None, provider_call_id: str | None
    ) -> SignedCall:
        """The call of this provider with our id (else with that provider call id) whose
        credentials ``verifies`` accepts; :func:`refused` when none does, be it unknown or
        signed by another account."""

    async def number(self, phone_number: str) -> InboundNumber | None:
        """Our number of this provider that was dialed, or None."""

    async def receive(
        self, number: InboundNumber, *, caller: str, provider_call_id: str
    ) -> InboundAnswer:
        """Record an inbound call to ``number`` for its inbound agent (a retry finds the
        call already recorded); not answered when no agent takes the number.

        Raises :class:`~voxline.errors.Unavailable` (503, nothing recorded) while this
        process drains before it stops: each carrier then does what it does with a failed
        webhook, which is to try elsewhere. Twilio asks the number's ``FallbackUrl``,
        Plivo its ``fallback_url``, Telnyx retries the ``call.initiated`` webhook and then
        its failover URL; with a load balancer in front, another node answers."""

    async def direction(self, call: SignedCall) -> CallDirection:
        """Whether the call went out or came in."""

    async def apply_once(self, key: Sequence[KeyPart], events: list[ProviderEvent]) -> bool:
        """Apply the events unless a webhook with this key was applied before (False)."""

    async def run_once(self, key: Sequence[KeyPart], action: Callable[[], Awaitable[None]]) -> bool:
        """Run ``action`` unless it ran for this key before (False); a failed action may
        run again."""

    def media_token(self, call_id: str) -> str:
        """A fresh media token that opens the call's stream."""

    @property
    def public_base_url(self) -> str:
        """Where providers reach Voxline."""


class ProviderCallbacks(Protocol):
    """One provider's webhooks and media streams."""

    name: str

    async def handle(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        """Answer one webhook; a kind the provider does not post is NotFound."""

    def admit_media(
        self, query: Mapping[str, str], headers: Mapping[str, str], public_base_url: str
    ) -> MediaAdmission:
        """How to check and read a media socket opened to ``/media/{provider}``."""


_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
# Opening brackets become 2, closing ones 0, everything else is dropped: minus one each,
# their running sum is the nesting depth.
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def bounded_json(body: bytes, max_depth: int) -> Any:
    """``body`` parsed as JSON, refusing (400) one nested deeper than ``max_depth`` before
    the parser recurses into it (a body of 100,000 ``[`` is a RecursionError otherwise)."""
    steps = _JSON_STRING.sub(b"", body).translate(_DEPTH_STEPS, _NOT_BRACKETS)
    if len(steps) > max_depth and max(accumulate(map(int.__sub__, steps, repeat(1)))) > max_depth:
        raise BadRequest("Webhook body is nested too deeply")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("Webhook body is not JSON") from None


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """An ``application/x-www-form-urlencoded`` body as (name, value) pairs, in order."""
    try:
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("Webhook body is not form-encoded text") from None
