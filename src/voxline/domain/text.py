"""The one policy for text and JSON that Voxline stores from its clients.

Every string the API stores (template variables, greetings, context keys and values, names,
prompts, labels) must be text both databases hold exactly and every JSON encoder can write:

* no NUL character (PostgreSQL refuses it in ``text`` and ``jsonb``),
* no lone UTF-16 surrogate, U+D800 to U+DFFF (JSON may carry ``"\\ud800"``, but it has no
  UTF-8 form, so the response, the database driver or a log line would fail on it),
* within a length stated per field.

JSON objects (``variables``, ``context``) are bounded in nesting depth, keys and encoded size,
so a single request cannot make a row, or a page of rows, arbitrarily large or slow to read.

The checks walk a value iteratively, so they never recurse however deep a value is.
:func:`safe_json` is the read-side counterpart for values already stored that break the
policy (written before it existed, or by something other than the API).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# A variable's value; variable names and context keys.
VARIABLE_VALUE_MAX = 4096
VARIABLES_MAX = 100
KEY_MAX = 256
# Any JSON object a client sends: ``variables`` and ``context`` (and ``context`` after merging).
JSON_DEPTH_MAX = 10
JSON_KEYS_MAX = 500
JSON_BYTES_MAX = 64 * 1024

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
TRUNCATED = "[truncated]"
"""What :func:`safe_json` puts where a stored value was nested too deep to show."""


class TextPolicyError(ValueError):
    """A value that breaks the policy; ``path`` is where inside the value (``""``: the value
    itself, else dotted keys and indexes such as ``"note.items.2"``)."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


def storable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored, or ``None`` when it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain NUL characters"
    return "must not contain unpaired surrogates"


def check_text(text: str, maximum: int | None = None) -> str:
    """``text`` when it is storable and at most ``maximum`` characters, else raises."""
    if maximum is not None and len(text) > maximum:
        raise TextPolicyError(f"must be at most {maximum} characters")
    reason = storable_reason(text)
    if reason is not None:
        raise TextPolicyError(reason)
    return text


@dataclass(frozen=True, slots=True)
class JsonLimits:
    """Bounds of one JSON object: nesting ``depth`` (the object itself is depth 1), ``keys``
    counted over all nested objects, ``encoded_bytes`` of its compact UTF-8 JSON text, and the
    length of each key and each string."""

    depth: int = JSON_DEPTH_MAX
    keys: int = JSON_KEYS_MAX
    encoded_bytes: int = JSON_BYTES_MAX
    key_length: int = KEY_MAX
    string_length: int | None = None


CONTEXT_LIMITS = JsonLimits()


def _join(path: str, part: object) -> str:
    return f"{path}.{part}" if path else str(part)


def check_json_object(value: Mapping[str, Any], limits: JsonLimits = CONTEXT_LIMITS) -> None:
    """Raise :class:`TextPolicyError` unless ``value`` keeps within ``limits``, holds only
    storable keys and strings and only finite numbers."""
    keys = 0
    stack: list[tuple[str, Any, int]] = [("", value, 1)]
    while stack:
        path, item, depth = stack.pop()
        if isinstance(item, Mapping):
            if depth > limits.depth:
                raise TextPolicyError(f"must be nested at most {limits.depth} levels deep")
            keys += len(item)
            if keys > limits.keys:
                raise TextPolicyError(f"must have at most {limits.keys} keys in all")
            for key, child in item.items():
                if not isinstance(key, str):
                    raise TextPolicyError("keys must be strings", path)
                try:
                    check_text(key, limits.key_length)
                except TextPolicyError as exc:
                    raise TextPolicyError(f"keys {exc.reason}", path) from None
                stack.append((_join(path, key), child, depth + 1))
        elif isinstance(item, list | tuple):
            if depth > limits.depth:
                raise TextPolicyError(f"must be nested at most {limits.depth} levels deep")
            stack.extend((_join(path, i), child, depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            check_text_at(item, limits.string_length, path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise TextPolicyError("must not contain NaN or infinite numbers", path)
        elif item is not None and not isinstance(item, bool | int | float):
            raise TextPolicyError("must hold only JSON values", path)
    size = encoded_size(value)
    if size > limits.encoded_bytes:
        raise TextPolicyError(f"must be at most {limits.encoded_bytes} bytes as JSON")


def check_text_at(text: str, maximum: int | None, path: str) -> None:
    try:
        check_text(text, maximum)
    except TextPolicyError as exc:
        raise TextPolicyError(exc.reason, path) from None


def encoded_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (call only on a value the policy accepts)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def safe_text(text: str) -> str:
    """``text`` with every NUL and lone surrogate replaced by U+FFFD, so it can be written
    as UTF-8 JSON; storable text is returned as it is."""
    if _UNSTORABLE.search(text) is None:
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def safe_json(value: Any, depth: int = JSON_DEPTH_MAX) -> Any:
    """A stored JSON value made renderable: strings (and keys) through :func:`safe_text`,
    objects and arrays nested deeper than ``depth`` replaced by :data:`TRUNCATED`, NaN and
    infinities by ``None``. Sizes are not cut: what the database returned is shown.

    Values that need no change come back as the same object, so well-formed rows cost one walk.
    """
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        if depth <= 0:
            return TRUNCATED
        changed = False
        out: dict[str, Any] = {}
        for key, child in value.items():
            safe_key = safe_text(str(key))
            safe_child = safe_json(child, depth - 1)
            changed = changed or safe_key is not key or safe_child is not child
            out[safe_key] = safe_child
        return out if changed or not isinstance(value, dict) else value
    if isinstance(value, list | tuple):
        if depth <= 0:
            return TRUNCATED
        items = [safe_json(child, depth - 1) for child in value]
        unchanged = isinstance(value, list) and all(
            a is b for a, b in zip(items, value, strict=True)
        )
        return value if unchanged else items
    return value
