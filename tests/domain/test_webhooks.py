"""Signatures (checked against the standardwebhooks library), secrets and the retry
schedule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from voxline.domain.webhooks import (
    is_failing_too_long,
    new_secret,
    retry_delay,
    signed_headers,
    truedy_signature,
)

BODY = b'{"event":"call.ended","id":"e1"}'


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_truedy_signature_is_hex_hmac_of_timestamp_dot_body() -> None:
    secret = new_secret()
    expected = hmac.new(secret.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert truedy_signature(secret, 1700000000, BODY) == expected


def test_standard_webhooks_library_verifies_the_headers() -> None:
    secret = new_secret()
    now = int(time.time())
    headers = signed_headers([secret], "msg_1", now, BODY)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == str(now)
    assert headers["webhook-signature"].startswith("v1,")
    Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_two_secrets_sign_during_a_rotation() -> None:
    new, old = new_secret(), new_secret()
    now = int(time.time())
    headers = signed_headers([new, old], "msg_2", now, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    assert headers["X-Truedy-Signature"] == truedy_signature(new, now, BODY)
    assert headers["X-Truedy-Signature-Previous"] == truedy_signature(old, now, BODY)
    assert "X-Truedy-Signature-Previous" not in signed_headers([new], "m", now, BODY)


def test_retry_waits_grow_4x_with_jitter_and_are_capped() -> None:
    rng = random.Random(7)
    waits = [retry_delay(n, 60, 8 * 3600, rng) for n in range(1, 8)]
    for n, wait in enumerate(waits, start=1):
        nominal = min(8 * 3600, 60 * 4 ** (n - 1))
        assert 0.8 * nominal <= wait <= 1.2 * nominal
    assert 16 * 3600 < sum(waits) < 30 * 3600  # eight attempts span about a day
    assert retry_delay(3, 0, 0) == 0  # tests switch the waits off by settings


def test_failing_too_long() -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert not is_failing_too_long(None, now, 5)
    assert not is_failing_too_long(now - timedelta(days=4), now, 5)
    assert is_failing_too_long(now - timedelta(days=5), now, 5)
