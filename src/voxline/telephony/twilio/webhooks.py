"""Twilio webhooks: Voxline's callback URLs, signatures, payload parsing and TwiML.

Everything here is pure. Twilio posts form-encoded callbacks signed with
``X-Twilio-Signature`` (``reference/telephony.md`` §1.8): base64 of HMAC-SHA1, keyed with the
account's auth token, over the full URL Twilio requested followed by every form parameter as
``name + value``, names sorted and each name's distinct values sorted. Like Twilio's own
``RequestValidator`` we also accept the URL with its default port stripped or added, because
Twilio's back end is inconsistent about it.

Status callbacks become provider-neutral :class:`ProviderEvent`s; an inbound voice request
becomes an :class:`InboundCall`; the answer document is TwiML whose ``<Connect><Stream>``
opens a bidirectional media stream to Voxline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import SplitResult, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.errors import ValidationFailed
from voxline.telephony.base import ProviderEvent

PROVIDER = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"

FormParams = Mapping[str, str] | Iterable[tuple[str, str]]

# ---------------------------------------------------------------------------------------
# Voxline's URLs, as Twilio is told to call them.


def _base(public_base_url: str) -> str:
    return public_base_url.rstrip("/")


def events_url(public_base_url: str, call_id: str) -> str:
    """Where Twilio posts status and AMD callbacks for our call ``call_id``."""
    return f"{_base(public_base_url)}/webhooks/{PROVIDER}/events?{urlencode({'call_id': call_id})}"


def answer_url(public_base_url: str, call_id: str | None = None) -> str:
    """The voice URL answered with TwiML (inbound numbers point here without a call id)."""
    url = f"{_base(public_base_url)}/webhooks/{PROVIDER}/answer"
    return f"{url}?{urlencode({'call_id': call_id})}" if call_id else url


def media_url(public_base_url: str) -> str:
    """The media WebSocket URL: ``wss://`` for an https base URL, ``ws://`` for http.

    Twilio forbids a query string on ``<Stream url>``, so our call id travels as a
    ``<Parameter>`` and comes back in the ``start`` message instead.
    """
    parts = urlsplit(_base(public_base_url))
    scheme = "ws" if parts.scheme == "http" else "wss"
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/media/{PROVIDER}", "", ""))


# ---------------------------------------------------------------------------------------
# Signatures.


def _pairs(params: FormParams) -> list[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    return [(str(name), str(value)) for name, value in items]


def sign(auth_token: str, url: str, params: FormParams = ()) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a request to ``url`` with form ``params``."""
    values: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        values.setdefault(name, set()).add(value)
    payload = url + "".join(
        name + value for name in sorted(values) for value in sorted(values[name])
    )
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


_DEFAULT_PORTS = {"https": 443, "http": 80, "wss": 443, "ws": 80}


def _url_variants(url: str) -> list[str]:
    """``url`` as given, plus the same URL with its scheme's default port dropped or added.

    Twilio's SDK also strips any other port; we don't, since our URL comes from
    configuration and only the default port is ambiguous.
    """
    parts = urlsplit(url)
    default = _DEFAULT_PORTS.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or parts.hostname is None or port not in (None, default):
        return [url]
    userinfo, _, hostport = parts.netloc.rpartition("@")
    host = hostport.removesuffix(f":{default}")
    prefix = f"{userinfo}@" if userinfo else ""
    netloc = prefix + (host if port == default else f"{host}:{default}")
    return [url, urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, ""))]


def verify(auth_token: str, url: str, params: FormParams, signature: str | None) -> bool:
    """Whether ``signature`` is Twilio's for ``url`` and ``params`` under ``auth_token``.

    ``url`` must be the public URL Twilio called (scheme, host, path and query), rebuilt
    from configuration behind a proxy. Comparison is constant-time.
    """
    if not signature or not auth_token:
        return False
    pairs = _pairs(params)
    expected = signature.encode()
    return any(
        hmac.compare_digest(sign(auth_token, candidate, pairs).encode(), expected)
        for candidate in _url_variants(url)
    )


# ---------------------------------------------------------------------------------------
# Parsing.


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A call Twilio offers us on one of our numbers (its voice request)."""

    provider_call_id: str
    from_number: str
    to_number: str
    account_sid: str


def _require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise ValidationFailed.field(name, "required in a Twilio webhook")
    return value


def parse_inbound(params: Mapping[str, str]) -> InboundCall:
    """The inbound call described by a voice request; ``ValidationFailed`` if malformed."""
    return InboundCall(
        provider_call_id=_require(params, "CallSid"),
        from_number=_require(params, "From"),
        to_number=_require(params, "To"),
        account_sid=_require(params, "AccountSid"),
    )


def _timestamp(params: Mapping[str, str]) -> datetime:
    raw = params.get("Timestamp")
    if raw:
        try:
            return parsedate_to_datetime(raw).astimezone(UTC)
        except (TypeError, ValueError):
            pass  # a malformed timestamp must not lose the event: fall back to arrival time
    return datetime.now(UTC)


_MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)


@dataclass(frozen=True, slots=True)
class _Outcome:
    event: CallEvent
    end_reason: EndReason | None = None
    details: dict[str, Any] = field(default_factory=dict)


# Twilio's CallStatus → what it means for our call. ``initiated`` and ``queued`` change
# nothing: the call is already queued on our side when the placement returns.
_STATUSES: Mapping[str, _Outcome] = {
    "ringing": _Outcome(CallEvent.RINGING),
    "in-progress": _Outcome(CallEvent.ANSWERED),
    "completed": _Outcome(CallEvent.HANGUP, EndReason.CONTACT_HANGUP),
    "busy": _Outcome(CallEvent.BUSY, EndReason.BUSY),
    "no-answer": _Outcome(CallEvent.NO_ANSWER, EndReason.NO_ANSWER),
    "failed": _Outcome(CallEvent.FAILED, EndReason.PROVIDER_ERROR),
    "canceled": _Outcome(CallEvent.HANGUP, EndReason.CANCELED),
}

# Callback fields worth keeping; none of them holds a phone number.
_DETAIL_FIELDS = {
    "CallStatus": "provider_status",
    "SequenceNumber": "sequence_number",
    "CallDuration": "duration_seconds",
    "SipResponseCode": "sip_response_code",
    "ErrorCode": "provider_code",
    "AnsweredBy": "answered_by",
    "MachineDetectionDuration": "machine_detection_ms",
    "RecordingUrl": "recording_url",
}


def parse_status(call_id: str, params: Mapping[str, str]) -> list[ProviderEvent]:
    """The events in a status or async-AMD callback for our call ``call_id``.

    A callback carrying ``AnsweredBy`` (async AMD, or a status callback after synchronous
    AMD) reports a machine as ``MACHINE_DETECTED``; ``human``/``unknown`` confirm the answer.
    Statuses that change nothing (``initiated``, ``queued``, unknown ones) yield no event.
    """
    at = _timestamp(params)
    sid = params.get("CallSid") or None
    details = {key: params[name] for name, key in _DETAIL_FIELDS.items() if params.get(name)}
    events: list[ProviderEvent] = []
    status = params.get("CallStatus", "")
    answered = params.get("AnsweredBy", "")
    outcome = _STATUSES.get(status)
    if outcome is not None and not (answered and outcome.event is CallEvent.ANSWERED):
        cause = params.get("SipResponseCode") or params.get("ErrorCode") or status
        events.append(
            ProviderEvent(
                call_id=call_id,
                event=outcome.event,
                at=at,
                provider_call_id=sid,
                end_reason=outcome.end_reason,
                cause=cause if outcome.end_reason else None,
                details=dict(details),
            )
        )
    if answered and (outcome is None or outcome.event is CallEvent.ANSWERED):
        machine = answered in _MACHINE_ANSWERS
        events.append(
            ProviderEvent(
                call_id=call_id,
                event=CallEvent.MACHINE_DETECTED if machine else CallEvent.ANSWERED,
                at=at,
                provider_call_id=sid,
                answered_by=(
                    AnsweredBy.MACHINE
                    if machine
                    else AnsweredBy.HUMAN
                    if answered == "human"
                    else AnsweredBy.UNKNOWN
                ),
                end_reason=EndReason.VOICEMAIL if machine else None,
                cause=answered if machine else None,
                details=dict(details),
            )
        )
    return events


# ---------------------------------------------------------------------------------------
# TwiML.

_XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>'


def stream_twiml(public_base_url: str, call_id: str | None) -> str:
    """TwiML that connects the call to Voxline's media WebSocket, both directions.

    ``call_id`` is passed as the stream's ``call_id`` custom parameter (omitted for an
    inbound call not yet known to Voxline).
    """
    parameter = (
        f'<Parameter name="call_id" value={quoteattr(call_id)}/>' if call_id is not None else ""
    )
    stream = f"<Stream url={quoteattr(media_url(public_base_url))}>{parameter}</Stream>"
    return f"{_XML_HEADER}<Response><Connect>{stream}</Connect></Response>"


REJECTION_MESSAGE = "Sorry, this number cannot take calls right now. Goodbye."


def rejection_twiml(message: str = REJECTION_MESSAGE) -> str:
    """TwiML that politely declines a call to a number no agent answers."""
    return f"{_XML_HEADER}<Response><Say>{escape(message)}</Say><Hangup/></Response>"
