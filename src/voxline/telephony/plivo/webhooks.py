"""Plivo webhooks: Voxline's callback URLs, signature V3, callback parsing and Plivo XML.

Plivo posts form-encoded callbacks (ring, answer, machine detection, hangup) to the URLs
:class:`~voxline.telephony.plivo.client.PlivoClient` gives it, each carrying our call id in
the query string. Every callback is signed with signature V3 (``reference/telephony.md``
§3.4): HMAC-SHA256 keyed with the account's auth token over the URL Plivo called plus the
sorted parameters and a nonce. Everything here is pure; routes call it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.domain.phone import is_e164
from voxline.telephony.base import ProviderEvent

PROVIDER = "plivo"

# Form values: one string, or several when a key repeats.
Params = Mapping[str, str | Sequence[str]]


# -- Voxline's URLs --------------------------------------------------------------------------


def _with_call_id(url: str, call_id: str) -> str:
    return f"{url}?{urlencode({'call_id': call_id})}"


def events_url(public_base_url: str, call_id: str) -> str:
    """Where Plivo posts ring, hangup and machine-detection callbacks for one call."""
    return _with_call_id(f"{public_base_url.rstrip('/')}/webhooks/plivo/events", call_id)


def answer_url(public_base_url: str, call_id: str) -> str:
    """Where Plivo fetches the XML to run once the call is answered."""
    return _with_call_id(f"{public_base_url.rstrip('/')}/webhooks/plivo/answer", call_id)


def transfer_url(public_base_url: str, call_id: str, destination: str) -> str:
    """Where Plivo fetches the XML that bridges a transferred call to ``destination``."""
    query = urlencode({"call_id": call_id, "to": destination})
    return f"{public_base_url.rstrip('/')}/webhooks/plivo/transfer?{query}"


MEDIA_TOKEN_PARAMETER = "token"


def media_url(public_base_url: str, call_id: str, token: str | None = None) -> str:
    """The media WebSocket of one call: ``wss://`` for an https base URL, ``ws://`` for http.

    The call's media ``token`` (see :mod:`voxline.telephony.media_tokens`) travels in the
    query string, which Plivo keeps when it opens the socket (the access log drops it).
    """
    parts = urlsplit(public_base_url)
    scheme = "ws" if parts.scheme == "http" else "wss"
    query = {"call_id": call_id} | ({MEDIA_TOKEN_PARAMETER: token} if token is not None else {})
    return urlunsplit((scheme, parts.netloc, "/media/plivo", urlencode(query), ""))


# -- Signature V3 ----------------------------------------------------------------------------


def _sorted_values(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else sorted(value)


def _signed_base(method: str, url: str, params: Params) -> str:
    """The string Plivo signs, before the ``.nonce`` (as plivo-python's signature_v3 builds it)."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query: dict[str, list[str]] = parse_qs(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        for key, value in params.items():
            query[key] = _sorted_values(value)
        params = {}
    query_string = "&".join(
        f"{key}={value}" for key in sorted(query) for value in sorted(query[key])
    )
    if not params:
        return f"{base}?{query_string}" if query_string else base
    body = "".join(
        f"{key}{value}" for key in sorted(params) for value in _sorted_values(params[key])
    )
    return f"{base}?{query_string}.{body}" if query_string else f"{base}?{body}"


def signature(auth_token: str, method: str, url: str, nonce: str, params: Params) -> str:
    """The V3 signature Plivo sends for this request (base64 of an HMAC-SHA256)."""
    message = f"{_signed_base(method, url, params)}.{nonce}".encode()
    digest = hmac.new(auth_token.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    *,
    auth_token: str,
    method: str,
    url: str,
    nonce: str,
    signatures: str,
    params: Params | None = None,
) -> bool:
    """True when one of the comma-separated ``signatures`` (``X-Plivo-Signature-V3``, or
    ``-Ma-V3`` keyed with the main account's token) signs this request.

    ``url`` must be the public URL Plivo called (rebuilt from configuration behind a proxy),
    query string included; ``params`` are the form fields of a POST (or the extra query
    fields of a GET). Comparison is constant-time. An empty token, nonce or header fails.
    """
    if not auth_token or not nonce or not signatures:
        return False
    expected = signature(auth_token, method, url, nonce, params or {}).encode()
    found = False
    for candidate in signatures.split(","):
        # Keep comparing after a match so timing does not reveal which candidate matched.
        found |= hmac.compare_digest(expected, candidate.strip().encode())
    return found


# -- Callback parsing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A call Plivo offers to one of our numbers (the answer URL of an inbound call)."""

    provider_call_id: str
    from_number: str
    to_number: str


def _first(params: Params, key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    return value if isinstance(value, str) else (value[0] if value else "")


def to_e164(number: str) -> str:
    """A number as Plivo writes it (digits with country code, ``+`` optional) in E.164, or
    the input unchanged when it is not a phone number (``anonymous``, a SIP URI)."""
    candidate = number if number.startswith("+") else f"+{number}"
    return candidate if is_e164(candidate) else number


def parse_inbound(params: Params) -> InboundCall | None:
    """The inbound call an answer-URL request offers, or None when it is not inbound."""
    if _first(params, "Direction") != "inbound" or not _first(params, "CallUUID"):
        return None
    return InboundCall(
        provider_call_id=_first(params, "CallUUID"),
        from_number=to_e164(_first(params, "From")),
        to_number=to_e164(_first(params, "To")),
    )


_BUSY_CAUSES = frozenset({"USER_BUSY", "Busy Line"})
_NO_ANSWER_CAUSES = frozenset({"NO_ANSWER", "NO_USER_RESPONSE", "No Answer"})
_CANCEL_CAUSES = frozenset({"ORIGINATOR_CANCEL", "Canceled"})
_REJECT_CAUSES = frozenset({"CALL_REJECTED", "Rejected"})


def _hangup_event(params: Params) -> tuple[CallEvent, EndReason]:
    """Which event a Hangup callback is: its ``CallStatus``, refined by the hang-up cause."""
    status = _first(params, "CallStatus")
    causes = {_first(params, "HangupCause"), _first(params, "HangupCauseName")}
    if status == "busy" or causes & _BUSY_CAUSES:
        return CallEvent.BUSY, EndReason.BUSY
    if status in ("no-answer", "timeout") or causes & _NO_ANSWER_CAUSES:
        return CallEvent.NO_ANSWER, EndReason.NO_ANSWER
    # "Canceled" also names an API hang-up of an answered call: only a cancel before answer.
    if status == "cancel" or (causes & _CANCEL_CAUSES and not _first(params, "AnswerTime")):
        return CallEvent.HANGUP, EndReason.CANCELED
    if causes & _REJECT_CAUSES:
        return CallEvent.FAILED, EndReason.REJECTED
    if status == "failed":
        return CallEvent.FAILED, EndReason.PROVIDER_ERROR
    return CallEvent.HANGUP, _completed_reason(params)


def _completed_reason(params: Params) -> EndReason:
    """Who ended an answered call. ``HangupSource`` names parties from Plivo's side: the
    contact is the *recipient* of an outbound call and the *caller* of an inbound one."""
    source = _first(params, "HangupSource")
    contact = "Caller" if _first(params, "Direction") == "inbound" else "Call recipient"
    if source == contact:
        return EndReason.CONTACT_HANGUP
    if source in ("API Request", "Answer XML") or _first(params, "HangupCauseCode") == "4010":
        return EndReason.AGENT_HANGUP
    if source in ("Error", "Plivo", "Carrier"):
        return EndReason.PROVIDER_ERROR
    return EndReason.CONTACT_HANGUP


_DETAIL_FIELDS = {
    "RequestUUID": "request_uuid",
    "CallStatus": "provider_status",
    "HangupCauseCode": "hangup_cause_code",
    "HangupSource": "hangup_source",
    "Duration": "duration_seconds",
    "BillDuration": "bill_duration_seconds",
    "TotalCost": "total_cost",
}


def parse_event(params: Params, *, call_id: str, received_at: datetime) -> list[ProviderEvent]:
    """The provider-neutral events one Plivo callback carries (often one, sometimes none).

    ``call_id`` is ours, from the callback URL's query string. ``Ring`` → RINGING;
    ``StartApp`` (the answer URL of an outbound call) → ANSWERED; ``MachineDetection`` →
    MACHINE_DETECTED with ``Machine=true``, else ANSWERED by a human; ``Hangup`` → BUSY,
    NO_ANSWER, FAILED or HANGUP with its end reason. Stream, recording and unknown callbacks
    carry no call event.
    """
    kind = _first(params, "Event")
    status = _first(params, "CallStatus")
    details: dict[str, Any] = {
        name: _first(params, key) for key, name in _DETAIL_FIELDS.items() if _first(params, key)
    }
    common: dict[str, Any] = {
        "call_id": call_id,
        "at": received_at,
        "provider_call_id": _first(params, "CallUUID") or None,
        "details": details,
    }
    if kind == "Ring" or (not kind and status == "ringing"):
        return [ProviderEvent(event=CallEvent.RINGING, **common)]
    if kind == "StartApp" and _first(params, "Direction") != "inbound":
        return [ProviderEvent(event=CallEvent.ANSWERED, **common)]
    if kind == "MachineDetection":
        if _first(params, "Machine").lower() == "true":
            return [
                ProviderEvent(
                    event=CallEvent.MACHINE_DETECTED,
                    answered_by=AnsweredBy.MACHINE,
                    end_reason=EndReason.VOICEMAIL,
                    cause="machine",
                    **common,
                )
            ]
        return [ProviderEvent(event=CallEvent.ANSWERED, answered_by=AnsweredBy.HUMAN, **common)]
    if kind == "Hangup":
        event, reason = _hangup_event(params)
        cause = _first(params, "HangupCauseName") or _first(params, "HangupCause") or status
        return [ProviderEvent(event=event, end_reason=reason, cause=cause or None, **common)]
    return []


# -- Plivo XML -------------------------------------------------------------------------------

_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
XML_CONTENT_TYPE = "application/xml"
REJECTION_MESSAGE = "Sorry, this number cannot take calls right now. Goodbye."


def stream_headers(call_id: str) -> str:
    """The ``extraHeaders`` value carrying our call id back on the stream's ``start``.

    Plivo allows only letters and digits in values, so a UUID travels without its dashes.
    """
    return "callId=" + "".join(ch for ch in call_id if ch.isascii() and ch.isalnum())


def answer_xml(stream_url: str, *, call_id: str | None = None) -> str:
    """Plivo XML that connects the call to a bidirectional μ-law 8 kHz media stream.

    ``keepCallAlive`` holds the call for as long as the WebSocket is open; when Voxline closes
    it, the (empty) rest of the document runs and Plivo hangs up with cause 4010.
    """
    attributes = {
        "bidirectional": "true",
        "keepCallAlive": "true",
        "contentType": "audio/x-mulaw;rate=8000",
        "streamTimeout": "86400",
    }
    if call_id:
        attributes["extraHeaders"] = stream_headers(call_id)
    rendered = " ".join(f"{name}={quoteattr(value)}" for name, value in attributes.items())
    return f"{_XML_HEAD}<Response><Stream {rendered}>{escape(stream_url)}</Stream></Response>"


def dial_xml(destination: str) -> str:
    """Plivo XML that bridges the call to ``destination`` (an E.164 number or a SIP URI)."""
    if destination.startswith(("sip:", "sips:")):
        noun = f"<User>{escape(destination)}</User>"
    else:
        noun = f"<Number>{escape(destination.removeprefix('+'))}</Number>"
    return f"{_XML_HEAD}<Response><Dial>{noun}</Dial></Response>"


def rejection_xml(message: str = REJECTION_MESSAGE) -> str:
    """Plivo XML for an inbound call to a number no agent answers: a short apology, then
    hang up with reason ``rejected``."""
    return (
        f"{_XML_HEAD}<Response><Speak>{escape(message)}</Speak>"
        '<Hangup reason="rejected"/></Response>'
    )
