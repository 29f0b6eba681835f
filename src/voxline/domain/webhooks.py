"""Customer webhooks, the pure part: event types, signing secrets, signatures and the retry
schedule.

Every delivery carries two signatures of the same body:

- the Truedy scheme (``reference/truedy-api.md`` §10.2): ``X-Truedy-Timestamp`` (Unix
  seconds) and ``X-Truedy-Signature``, the lowercase hex HMAC-SHA256 of
  ``"{timestamp}.{raw_body}"`` keyed with the secret exactly as shown (``whsec_…``, UTF-8);
- Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
  (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the base64-decoded
  part after ``whsec_``), one per secret that signs, space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

SECRET_PREFIX = "whsec_"


class EventType(StrEnum):
    """What a webhook endpoint may subscribe to."""

    CALL_QUEUED = "call.queued"
    CALL_RINGING = "call.ringing"
    CALL_STARTED = "call.started"
    CALL_ENDED = "call.ended"
    CALL_ANALYZED = "call.analyzed"
    BATCH_STATUS_CHANGED = "batch.status.changed"
    BATCH_COMPLETED = "batch.completed"
    WEBHOOK_TEST = "webhook.test"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks format: ``whsec_`` + base64 of 32
    random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _standard_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def truedy_signature(secret: str, timestamp: int, body: bytes) -> str:
    """``X-Truedy-Signature`` of ``body`` sent at ``timestamp``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def standard_signature(secrets_: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: one ``v1,<base64>`` per secret, space-separated."""
    message = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1,"
        + base64.b64encode(hmac.new(_standard_key(s), message, hashlib.sha256).digest()).decode()
        for s in secrets_
    )


def signed_headers(
    secrets_: Sequence[str], event_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The headers of one delivery attempt; ``secrets_`` lists the current secret first,
    then a rotated-out one still within its overlap. The Truedy header (one value only)
    carries the current secret's signature, ``X-Truedy-Signature-Previous`` the old one's."""
    headers = {
        "Content-Type": "application/json",
        "X-Truedy-Timestamp": str(timestamp),
        "X-Truedy-Signature": truedy_signature(secrets_[0], timestamp, body),
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secrets_, event_id, timestamp, body),
    }
    if len(secrets_) > 1:
        headers["X-Truedy-Signature-Previous"] = truedy_signature(secrets_[1], timestamp, body)
    return headers


def retry_delay(
    attempts: int, base_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (1-based): ``base`` times 4
    to the power ``attempts - 1``, at most ``max_seconds``, with ±20 % jitter so endpoints
    that failed together are not retried together. With the defaults (60 s, 8 h, 8 attempts)
    the seven waits add up to about 22 h."""
    wait = min(max_seconds, base_seconds * 4 ** (attempts - 1))
    return float(wait * (rng or random).uniform(0.8, 1.2))


def is_failing_too_long(failing_since: datetime | None, now: datetime, days: float) -> bool:
    """Whether an endpoint that has failed every delivery since ``failing_since`` is to be
    disabled."""
    return failing_since is not None and (now - failing_since).total_seconds() >= days * 86400
