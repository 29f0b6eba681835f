"""Media tokens: one opens one provider's stream of one call until it expires; anything
else (absent, garbled, forged, expired, another call's or provider's) is refused with a
reason, never an exception."""

from __future__ import annotations

import pytest

from voxline.crypto import UrlSigner
from voxline.telephony.media_tokens import MediaTokens, TokenProblem

NOW = 1_800_000_000.0
TOKENS = MediaTokens.for_deployment("deployment-secret", ttl_seconds=600)


def test_a_token_opens_its_own_call_of_its_own_provider() -> None:
    token = TOKENS.issue("twilio", "call-1", NOW)
    assert TOKENS.problem(token, "twilio", "call-1", NOW) is None
    assert TOKENS.problem(token, "twilio", "call-1", NOW + 600) is None


def test_a_token_is_url_safe() -> None:
    token = TOKENS.issue("telnyx", "0b6c2f2e-8d37-4e39-9c0b-4b1a3f8f3f4e", NOW)
    assert token.replace(".", "").replace("-", "").replace("_", "").isalnum()


def test_another_calls_or_providers_token_is_invalid() -> None:
    token = TOKENS.issue("twilio", "call-1", NOW)
    assert TOKENS.problem(token, "twilio", "call-2", NOW) is TokenProblem.INVALID
    assert TOKENS.problem(token, "plivo", "call-1", NOW) is TokenProblem.INVALID


def test_another_deployments_token_is_invalid() -> None:
    other = MediaTokens.for_deployment("another-secret", ttl_seconds=600)
    token = other.issue("twilio", "call-1", NOW)
    assert TOKENS.problem(token, "twilio", "call-1", NOW) is TokenProblem.INVALID


def test_an_expired_token_is_refused() -> None:
    token = TOKENS.issue("twilio", "call-1", NOW)
    assert TOKENS.problem(token, "twilio", "call-1", NOW + 601) is TokenProblem.EXPIRED


def test_a_token_with_a_later_expiry_written_in_is_invalid() -> None:
    version, expires, signature = TOKENS.issue("twilio", "call-1", NOW).split(".")
    stretched = f"{version}.{int(expires) + 86_400}.{signature}"
    assert TOKENS.problem(stretched, "twilio", "call-1", NOW) is TokenProblem.INVALID


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_missing(token: str | None) -> None:
    assert TOKENS.problem(token, "twilio", "call-1", NOW) is TokenProblem.MISSING


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "v1.123",
        "v2.1900000000.abc",
        "v1.-5.abc",
        "v1.١٢٣.abc",  # Arabic-Indic digits: int() would take them
        "v1.1900000000000000000000.abc",
        "v1.1900000000.a.b",
        "x" * 10_000,
    ],
)
def test_a_malformed_token_is_refused(token: str) -> None:
    assert TOKENS.problem(token, "twilio", "call-1", NOW) is TokenProblem.MALFORMED


@pytest.mark.parametrize("signature", ["é" * 43, "\udcff" * 43, "\x00", ""])
def test_odd_signature_text_is_invalid_not_an_error(signature: str) -> None:
    token = f"v1.{int(NOW) + 60}.{signature}"
    assert TOKENS.problem(token, "twilio", "call-1", NOW) is TokenProblem.INVALID


def test_media_tokens_and_recording_links_use_different_keys() -> None:
    signer = UrlSigner("deployment-secret")
    expires = int(NOW) + 600
    token = TOKENS.issue("twilio", "call-1", NOW)
    assert token.split(".")[2] != signer.signature("call-1", expires)
    assert signer.verify("/r", expires, signer.signature("/r", expires), now=NOW)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        MediaTokens(b"short", ttl_seconds=60)
