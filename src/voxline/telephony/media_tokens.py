"""Per-call tokens that authenticate a provider's media WebSocket.

Voxline hands each provider the URL of its media stream when a call is placed or answered;
whoever opens that socket hears the agent and speaks as the contact. The URL (or the
stream's start message, or an upgrade header, as each provider allows) therefore carries a
token that only this deployment can make: an HMAC, keyed from the deployment secret, over
the purpose ``media``, the provider, our call id and an expiry. A token opens the stream of
that one call of that one provider until it expires; the socket is refused otherwise.

Pure: no I/O, the clock is passed in. Checking never raises on odd input.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from enum import StrEnum

from voxline.crypto import derive_key

VERSION = "v1"
# Far longer than any token we make, far shorter than anything that could hurt to compare.
MAX_TOKEN_LENGTH = 256
_MAX_EXPIRY_DIGITS = 12


class TokenProblem(StrEnum):
    """Why a presented token does not open the stream (logged; the token never is)."""

    MISSING = "missing"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    INVALID = "invalid"  # forged, or made for another call or provider


class MediaTokens:
    """Makes and checks media tokens with ``key`` (see :func:`voxline.crypto.derive_key`,
    purpose ``media-tokens``); a token made at ``now`` expires ``ttl_seconds`` later."""

    def __init__(self, key: bytes, ttl_seconds: int) -> None:
        if len(key) < 16:
            raise ValueError("a media-token key must be at least 16 bytes")
        self._key = key
        self.ttl_seconds = ttl_seconds

    @classmethod
    def for_deployment(cls, secret_key: str, ttl_seconds: int) -> MediaTokens:
        """Tokens keyed from the deployment's secret key."""
        return cls(derive_key(secret_key, "media-tokens"), ttl_seconds)

    def _mac(self, provider: str, call_id: str, expires: int) -> bytes:
        message = "\n".join(("media", provider, call_id, str(expires)))
        digest = hmac.new(
            self._key, message.encode("utf-8", "surrogateescape"), hashlib.sha256
        ).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=")

    def issue(self, provider: str, call_id: str, now: float) -> str:
        """A token that opens ``provider``'s media stream of ``call_id`` until ``now`` plus
        the ttl. URL-safe: ``v1.<expiry>.<signature>``."""
        expires = int(now) + self.ttl_seconds
        return f"{VERSION}.{expires}.{self._mac(provider, call_id, expires).decode()}"

    def minter(self, provider: str, clock: Callable[[], float] = time.time) -> Callable[[str], str]:
        """``call_id -> token`` for ``provider``'s streams, as a client that places or
        answers calls takes it."""
        return lambda call_id: self.issue(provider, call_id, clock())

    def problem(
        self, token: str | None, provider: str, call_id: str, now: float
    ) -> TokenProblem | None:
        """None when ``token`` opens ``provider``'s stream of ``call_id`` at ``now``, else
        what is wrong with it."""
        if not token:
            return TokenProblem.MISSING
        if len(token) > MAX_TOKEN_LENGTH:
            return TokenProblem.MALFORMED
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            return TokenProblem.MALFORMED
        expiry, signature = parts[1], parts[2]
        # isdecimal() alone admits other scripts' digits; int() would accept them.
        if not (0 < len(expiry) <= _MAX_EXPIRY_DIGITS and expiry.isascii() and expiry.isdigit()):
            return TokenProblem.MALFORMED
        expires = int(expiry)
        # Bytes, not str: compare_digest refuses non-ASCII text, which a peer may send.
        presented = signature.encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(self._mac(provider, call_id, expires), presented):
            return TokenProblem.INVALID
        if expires < now:
            return TokenProblem.EXPIRED
        return None
