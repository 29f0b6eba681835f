"""Encryption of stored secrets and signing of URLs, both keyed by the deployment secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A key for one ``purpose`` ("credentials", "url-signing", "media-tokens"), derived
    from the deployment secret, so no two uses of it share a key."""
    return hmac.new(secret_key.encode(), purpose.encode(), hashlib.sha256).digest()


_derive = derive_key


class SecretBox:
    """Authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) of small JSON objects."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret_key, "credentials")))

    def seal(self, values: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            data = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("stored secret cannot be decrypted with this secret key") from exc
        assert isinstance(data, dict)
        return data


class UrlSigner:
    """HMAC signatures for expiring URLs (recordings served by Voxline)."""

    def __init__(self, secret_key: str) -> None:
        self._key = _derive(secret_key, "url-signing")

    def signature(self, path: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")

    def sign(self, path: str, ttl_seconds: int, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + ttl_seconds)
        return f"{path}?expires={expires}&signature={self.signature(path, expires)}"

    def verify(self, path: str, expires: int, signature: str, now: float | None = None) -> bool:
        if expires < (now if now is not None else time.time()):
            return False
        # Bytes, not str: compare_digest refuses non-ASCII text, and a URL's bytes are the
        # caller's to choose.
        presented = signature.encode("utf-8", "surrogateescape")
        return hmac.compare_digest(self.signature(path, expires).encode(), presented)
