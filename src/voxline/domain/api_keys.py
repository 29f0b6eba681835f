"""API keys: format, generation and hashing.

A key is ``vx_`` followed by 40 base62 characters (about 238 bits of randomness). Only its
SHA-256 is stored; the key itself is shown once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

KEY_PREFIX = "vx_"
_ALPHABET = string.ascii_letters + string.digits
_RANDOM_CHARS = 40
DISPLAY_PREFIX_CHARS = len(KEY_PREFIX) + 6


@dataclass(frozen=True, slots=True)
class NewKey:
    secret: str
    display_prefix: str
    key_hash: str


def generate_key() -> NewKey:
    secret = KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))
    return NewKey(secret, secret[:DISPLAY_PREFIX_CHARS], hash_key(secret))


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hashes_match(stored: str, presented: str) -> bool:
    """Constant-time comparison of two key hashes."""
    return hmac.compare_digest(stored.encode(), presented.encode())


def looks_like_key(value: str) -> bool:
    return (
        value.startswith(KEY_PREFIX)
        and len(value) == len(KEY_PREFIX) + _RANDOM_CHARS
        and all(ch in _ALPHABET for ch in value[len(KEY_PREFIX) :])
    )
