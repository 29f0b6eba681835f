"""Twilio webhooks: Voxline's callback URLs, signatures, payload parsing and TwiML.

Everything here is pure. Twilio posts form-encoded callbacks signed with
``X-Twilio-Signature`` (``reference/telephony.md`` §1.8): base64 of HMAC-SHA1, keyed with the
account's auth token, over the full URL Twilio requested followed by every form parameter as
``name + value``, names sorted and each name's distinct values sorted. Like Twilio's own
``RequestValidator`` we also accept the URL with its port stripped or its default port added,
because Twilio's back end is inconsistent about it.

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
from urllib.parse import parse_qs, urlencode, urlparse, urlsplit, urlunsplit
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


def _url_variants(url: str) -> list[str]:
    """The URLs twilio-python's ``RequestValidator`` tries for ``url``: with its port (the
    scheme's default added when it has none) and without any port.

    Twilio's back end signs a URL on a non-default port inconsistently, sometimes without
    the port, so the official validator accepts both spellings and so do we; nothing else.
    Like the validator, the default added is 443 for ``https`` and 80 for any other scheme.
    """
    parts = urlparse(url)
    try:
        port = parts.port
    except ValueError:
        return []
    with_port = (
        parts
        if port
        else parts._replace(netloc=f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}")
    )
    without_port = parts._replace(netloc=parts.netloc.split(":")[0]) if port else parts
    return list(dict.fromkeys((without_port.geturl(), with_port.geturl())))


def _body_hash_ok(url: str, body: str | bytes) -> bool:
    """Whether a raw (JSON) body matches the ``bodySHA256`` its signed URL carries."""
    expected = parse_qs(urlparse(url).query).get("bodySHA256")
    if not expected:
        return False
    try:
        raw = body.encode() if isinstance(body, str) else body.decode().encode()
    except UnicodeDecodeError:
        return False
    return hmac.compare_digest(hashlib.sha256(raw).hexdigest().encode(), expected[0].encode())


def verify(
    auth_token: str, url: str, params: FormParams | str | bytes, signature: str | None
) -> bool:
    """Whether ``signature`` is Twilio's for ``url`` and ``params`` under ``auth_token``.

    ``url`` must be the public URL Twilio called (scheme, host, path and query), rebuilt
    from configuration behind a proxy. ``params`` is the form of a form-encoded webhook, or
    the raw body of a JSON one: Twilio then signs the URL alone and puts the body's hex
    SHA-256 in its ``bodySHA256`` query parameter, which must match. This accepts exactly
    what twilio-python's ``RequestValidator.validate`` accepts. Comparison is constant-time.
    """
    if not signature or not auth_token:
        return False
    pairs: list[tuple[str, str]] = []
    if isinstance(params, str | bytes):
        hashed = "bodySHA256" in parse_qs(urlparse(url).query)
        # A raw body is covered only through bodySHA256 (even an empty one, when present).
        if (hashed or params) and not _body_hash_ok(url, params):
            return False
    else:
        pairs = _pairs(params)
    expected = signature.encode()
    found = False
    for candidate in _url_variants(url):
        found |= hmac.compare_digest(sign(auth_token, candidate, pairs).encode(), expected)
    return found


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


# "machine" is what the Calls resource itself reports (``answered_by``); the rest come from
# AMD callbacks.
_MACHINE_ANSWERS = frozenset(
    {
        "machine",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
    }
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


MEDIA_TOKEN_PARAMETER = "token"


def stream_twiml(public_base_url: str, call_id: str | None, token: str | None = None) -> str:
    """TwiML that connects the call to Voxline's media WebSocket, both directions.

    ``call_id`` is passed as the stream's ``call_id`` custom parameter (omitted for an
    inbound call not yet known to Voxline), and the call's media ``token`` (see
    :mod:`voxline.telephony.media_tokens`) as its ``token`` one: Twilio allows no query
    string on the stream URL, and echoes both in the ``start`` message.
    """
    values = [("call_id", call_id), (MEDIA_TOKEN_PARAMETER, token)]
    parameters = "".join(
        f"<Parameter name={quoteattr(name)} value={quoteattr(value)}/>"
        for name, value in values
        if value is not None
    )
    stream = f"<Stream url={quoteattr(media_url(public_base_url))}>{parameters}</Stream>"
    return f"{_XML_HEADER}<Response><Connect>{stream}</Connect></Response>"


def dial_twiml(destination: str) -> str:
    """TwiML that bridges the call to ``destination`` (an E.164 number or a SIP URI): the
    cold transfer that replaces the call's media stream."""
    noun = "Sip" if destination.startswith(("sip:", "sips:")) else "Number"
    return f"{_XML_HEADER}<Response><Dial><{noun}>{escape(destination)}</{noun}></Dial></Response>"


REJECTION_MESSAGE = "Sorry, this number cannot take calls right now. Goodbye."


def rejection_twiml(message: str = REJECTION_MESSAGE) -> str:
    """TwiML that politely declines a call to a number no agent answers."""
    return f"{_XML_HEADER}<Response><Say>{escape(message)}</Say><Hangup/></Response>"
