"""Telnyx webhooks: Ed25519 signatures, events in neutral terms and the inbound commands.

Telnyx POSTs JSON call events (``reference/telephony.md`` §2.4) signed with the account's
Ed25519 key over ``"{timestamp}|{raw body}"`` (§2.5). Unlike Twilio and Plivo, Telnyx does
not take instructions from a webhook's reply: an inbound call is answered (or rejected) by a
REST command, whose bodies :func:`answer_command` and :func:`reject_command` build.

Everything here is pure: no I/O, no clock unless one is passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from voxline.domain.calls import AnsweredBy, CallDirection, CallEvent, EndReason
from voxline.telephony.base import ProviderEvent

PROVIDER = "telnyx"
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
# Telnyx's SDKs refuse a webhook whose timestamp is further than this from the clock.
TIMESTAMP_TOLERANCE_SECONDS = 300

# What every Voxline media stream asks for: caller audio as 8 kHz μ-law, and agent audio
# accepted as raw μ-law RTP payloads (the default "mp3" mode would want MP3 files).
STREAM_FIELDS: Mapping[str, str | int] = {
    "stream_track": "inbound_track",
    "stream_codec": "PCMU",
    "stream_bidirectional_mode": "rtp",
    "stream_bidirectional_codec": "PCMU",
    "stream_bidirectional_sampling_rate": 8000,
}


def events_url(public_base_url: str, call_id: str) -> str:
    """Where Telnyx posts the call's events."""
    return f"{public_base_url.rstrip('/')}/webhooks/telnyx/events?{urlencode({'call_id': call_id})}"


def media_url(public_base_url: str, call_id: str) -> str:
    """The WebSocket Telnyx streams the call's audio to (``ws://`` for an http base URL)."""
    parts = urlsplit(public_base_url)
    scheme = "ws" if parts.scheme == "http" else "wss"
    return f"{scheme}://{parts.netloc}/media/telnyx?{urlencode({'call_id': call_id})}"


def encode_client_state(call_id: str) -> str:
    """Our call id as Telnyx's ``client_state`` (which must be base64)."""
    return base64.b64encode(call_id.encode()).decode()


def decode_client_state(value: object) -> str | None:
    """The call id carried in ``client_state``, or None when absent or not ours."""
    if not isinstance(value, str) or not value or not value.isascii():
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def verify(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    public_key: str,
    *,
    now: float | None = None,
    tolerance_seconds: int = TIMESTAMP_TOLERANCE_SECONDS,
) -> bool:
    """Whether ``body`` was signed by the holder of ``public_key`` less than
    ``tolerance_seconds`` ago.

    ``signature`` and ``timestamp`` are the ``telnyx-signature-ed25519`` and
    ``telnyx-timestamp`` headers, ``public_key`` the account's base64 raw Ed25519 key and
    ``body`` the exact bytes received (never re-serialised JSON). Any malformed input is
    simply False.
    """
    if not signature or not timestamp:
        return False
    try:
        sent_at = int(timestamp)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        raw_signature = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return False
    try:
        key.verify(raw_signature, timestamp.encode() + b"|" + body)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class InboundCall:
    """A call ringing one of our Telnyx numbers, waiting for an answer or reject command."""

    provider_call_id: str
    from_number: str
    to_number: str
    call_session_id: str | None = None
    connection_id: str | None = None


def _envelope(body: bytes | Mapping[str, Any]) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
    """``(event_type, data, payload)`` of a webhook; ValueError when it is not one."""
    document = json.loads(body) if isinstance(body, bytes | str) else body
    data = document.get("data") if isinstance(document, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get("event_type"), str):
        raise ValueError("not a Telnyx webhook: data.event_type is missing")
    payload = data.get("payload")
    if not isinstance(payload, Mapping):
        raise ValueError("not a Telnyx webhook: data.payload is missing")
    # Some integrations report underscore spellings (streaming_started); key on dots.
    return data["event_type"].replace("_", "."), data, payload


def _occurred_at(data: Mapping[str, Any]) -> datetime:
    value = data.get("occurred_at")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return datetime.now(UTC)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


# hangup_cause → (event, end reason) for a call that ends (§5 of the reference).
_HANGUP_CAUSES: Mapping[str, tuple[CallEvent, EndReason | None]] = {
    "user_busy": (CallEvent.BUSY, EndReason.BUSY),
    "timeout": (CallEvent.NO_ANSWER, EndReason.NO_ANSWER),
    "no_answer": (CallEvent.NO_ANSWER, EndReason.NO_ANSWER),
    "call_rejected": (CallEvent.FAILED, EndReason.REJECTED),
    "not_found": (CallEvent.FAILED, EndReason.PROVIDER_ERROR),
    "originator_cancel": (CallEvent.HANGUP, EndReason.CANCELED),
    "time_limit": (CallEvent.HANGUP, EndReason.MAX_DURATION),
}

_MACHINE_RESULTS: Mapping[str, AnsweredBy] = {
    "human": AnsweredBy.HUMAN,
    "human_residence": AnsweredBy.HUMAN,
    "human_business": AnsweredBy.HUMAN,
    "machine": AnsweredBy.MACHINE,
    "fax_detected": AnsweredBy.MACHINE,
}


def _hangup(
    payload: Mapping[str, Any], direction: CallDirection
) -> tuple[CallEvent, EndReason | None]:
    cause = str(payload.get("hangup_cause") or "unspecified")
    if cause in _HANGUP_CAUSES:
        return _HANGUP_CAUSES[cause]
    # A normal end: who hung up decides. For an outbound call we are the caller.
    source = payload.get("hangup_source")
    contact_side = "callee" if direction is CallDirection.OUTBOUND else "caller"
    if source == contact_side:
        return CallEvent.HANGUP, EndReason.CONTACT_HANGUP
    if source in ("caller", "callee"):
        return CallEvent.HANGUP, EndReason.AGENT_HANGUP
    return CallEvent.HANGUP, None


def parse_event(
    body: bytes | Mapping[str, Any],
    *,
    call_id: str | None = None,
    direction: CallDirection = CallDirection.OUTBOUND,
) -> ProviderEvent | None:
    """The neutral event a Telnyx call webhook reports, or None when it changes no status.

    ``call_id`` is Voxline's id from the callback URL; without it the id is read back from
    ``client_state``. ``direction`` tells who the contact is when a call ends normally.
    An inbound ``call.initiated`` is not an event: see :func:`parse_inbound`.
    Raises ValueError for a body that is not a Telnyx webhook or names no call of ours.
    """
    event_type, data, payload = _envelope(body)
    ours = call_id or decode_client_state(payload.get("client_state"))
    if ours is None:
        raise ValueError("the webhook names no Voxline call")
    provider_call_id = payload.get("call_control_id")
    details: dict[str, Any] = {"provider_event": event_type}
    if isinstance(data.get("id"), str):
        details["event_id"] = data["id"]

    def event(kind: CallEvent, **fields: Any) -> ProviderEvent:
        return ProviderEvent(
            call_id=ours,
            event=kind,
            at=_occurred_at(data),
            provider_call_id=provider_call_id if isinstance(provider_call_id, str) else None,
            details=details,
            **fields,
        )

    if event_type == "call.initiated":
        # Call Control v2 has no ringing webhook: an outbound leg starts dialing here.
        incoming = payload.get("direction") == "incoming"
        return None if incoming else event(CallEvent.RINGING)
    if event_type == "call.answered":
        details["answered_at"] = _occurred_at(data).isoformat()
        return event(CallEvent.ANSWERED)
    if event_type in ("call.machine.detection.ended", "call.machine.premium.detection.ended"):
        result = str(payload.get("result") or "not_sure")
        answered_by = _MACHINE_RESULTS.get(result, AnsweredBy.UNKNOWN)
        if answered_by is AnsweredBy.MACHINE:
            return event(
                CallEvent.MACHINE_DETECTED,
                answered_by=AnsweredBy.MACHINE,
                end_reason=EndReason.VOICEMAIL,
                cause=f"machine_detection:{result}",
            )
        return event(CallEvent.ANSWERED, answered_by=answered_by)
    if event_type == "call.hangup":
        kind, reason = _hangup(payload, direction)
        for key in ("hangup_cause", "hangup_source", "sip_hangup_cause"):
            if payload.get(key) is not None:
                details[key] = payload[key]
        cause = payload.get("hangup_cause")
        return event(kind, end_reason=reason, cause=cause if isinstance(cause, str) else None)
    return None


def parse_inbound(body: bytes | Mapping[str, Any]) -> InboundCall | None:
    """The inbound call a ``call.initiated`` webhook announces, or None for anything else."""
    event_type, _, payload = _envelope(body)
    if event_type != "call.initiated" or payload.get("direction") != "incoming":
        return None
    fields = (payload.get("call_control_id"), payload.get("from"), payload.get("to"))
    if not all(isinstance(value, str) and value for value in fields):
        raise ValueError("an inbound call.initiated needs call_control_id, from and to")
    session, connection = payload.get("call_session_id"), payload.get("connection_id")
    return InboundCall(
        provider_call_id=str(fields[0]),
        from_number=str(fields[1]),
        to_number=str(fields[2]),
        call_session_id=session if isinstance(session, str) else None,
        connection_id=connection if isinstance(connection, str) else None,
    )


def recording_urls(body: bytes | Mapping[str, Any]) -> dict[str, str]:
    """The download links (``{"mp3": ..., "wav": ...}``) of a ``call.recording.saved``
    webhook, empty for any other event. Telnyx keeps these links valid for 10 minutes."""
    event_type, _, payload = _envelope(body)
    urls = payload.get("recording_urls")
    if event_type != "call.recording.saved" or not isinstance(urls, Mapping):
        return {}
    return {kind: url for kind, url in urls.items() if isinstance(url, str) and url}


# The upgrade header carrying the ``stream_auth_token`` of a stream (its media token).
STREAM_TOKEN_HEADER = "x-telnyx-streaming-auth-token"


def stream_fields(
    public_base_url: str, call_id: str, stream_auth_token: str | None = None
) -> dict[str, Any]:
    """The ``stream_*`` fields that start a bidirectional μ-law stream to Voxline."""
    fields: dict[str, Any] = {"stream_url": media_url(public_base_url, call_id), **STREAM_FIELDS}
    if stream_auth_token is not None:
        fields["stream_auth_token"] = stream_auth_token
    return fields


def answer_command(public_base_url: str, call_id: str, *, stream: bool = True) -> dict[str, Any]:
    """Body of ``actions/answer`` for an inbound call: answer, send the call's events to
    Voxline and, with ``stream``, stream its audio both ways.

    AnswerCall takes fewer stream fields than Dial: neither a sampling rate (μ-law is 8 kHz
    anyway) nor ``stream_auth_token``. A stream that must present a token therefore starts
    with :func:`streaming_start_command` after an answer built with ``stream=False``.
    """
    fields = stream_fields(public_base_url, call_id) if stream else {}
    fields.pop("stream_bidirectional_sampling_rate", None)
    return {
        **fields,
        "webhook_url": events_url(public_base_url, call_id),
        "webhook_url_method": "POST",
        "client_state": encode_client_state(call_id),
        "command_id": f"answer-{call_id}",
    }


def streaming_start_command(
    public_base_url: str, call_id: str, *, stream_auth_token: str | None = None
) -> dict[str, Any]:
    """Body of ``actions/streaming_start``, for a call answered without a stream."""
    return {
        **stream_fields(public_base_url, call_id, stream_auth_token),
        "client_state": encode_client_state(call_id),
        "command_id": f"stream-{call_id}",
    }


def reject_command() -> dict[str, Any]:
    """Body of ``actions/reject`` for a call to a number no agent serves.

    The caller hears the network's "call rejected" treatment; nothing is answered, so
    nothing is billed.
    """
    return {"cause": "CALL_REJECTED"}


def timeout_seconds(join_timeout_seconds: float) -> int:
    """A join timeout as Telnyx's ``timeout_secs`` (whole seconds, 5 to 600)."""
    return min(600, max(5, math.ceil(join_timeout_seconds)))
