"""``verify_webhook``: check that a webhook (or an HTTP tool request) came from Voxline.

Voxline signs every delivery twice (README, "Customer webhooks"); either signature proves it:

- Standard Webhooks: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``
  (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the base64-decoded part
  of the secret after ``whsec_``; several space-separated during a secret rotation);
- Truedy: ``X-Truedy-Timestamp`` and ``X-Truedy-Signature``, the hex HMAC-SHA256 of
  ``"{timestamp}.{body}"`` keyed with the secret as shown.

Pass the body exactly as received (bytes), before any JSON parsing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from voxline.client.errors import VoxlineClientError

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookVerificationFailed(VoxlineClientError):
    """The payload is not a genuine, recent Voxline delivery (the message says why)."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _fresh(timestamp: str, tolerance: float, now: float) -> None:
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookVerificationFailed("the timestamp is not a number") from None
    if abs(now - sent) > tolerance:
        raise WebhookVerificationFailed("the timestamp is too old or in the future")


def _standard(body: bytes, headers: Mapping[str, str], secret: str) -> bool | None:
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not (msg_id and timestamp and signatures):
        return None
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise WebhookVerificationFailed("the secret is not a whsec_ secret") from None
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (part.partition(",") for part in signatures.split())
    )


def _truedy(body: bytes, headers: Mapping[str, str], secret: str) -> bool | None:
    timestamp = _header(headers, "x-truedy-timestamp")
    signature = _header(headers, "x-truedy-signature")
    if not (timestamp and signature):
        return None
    message = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, expected)


def verify_webhook(
    payload: bytes | str,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """The delivery's JSON once a signature made with ``secret`` checks out and its
    timestamp is within ``tolerance_seconds`` of ``now``; :class:`WebhookVerificationFailed`
    otherwise."""
    body = payload.encode() if isinstance(payload, str) else payload
    moment = time.time() if now is None else now
    for scheme, timestamp_header in (
        (_standard, "webhook-timestamp"),
        (_truedy, "x-truedy-timestamp"),
    ):
        verdict = scheme(body, headers, secret)
        if verdict is None:
            continue
        if not verdict:
            raise WebhookVerificationFailed("the signature does not match")
        _fresh(_header(headers, timestamp_header) or "", tolerance_seconds, moment)
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise WebhookVerificationFailed("the body is not JSON") from None
    raise WebhookVerificationFailed("no Voxline signature headers")
