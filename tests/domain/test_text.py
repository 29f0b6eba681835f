"""The text and JSON policy: what may be stored, and how stored values are made renderable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voxline.domain.text import (
    JSON_BYTES_MAX,
    JSON_DEPTH_MAX,
    JSON_KEYS_MAX,
    KEY_MAX,
    TRUNCATED,
    JsonLimits,
    TextPolicyError,
    check_json_object,
    check_text,
    safe_json,
    safe_text,
    storable_reason,
)


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep (the outermost object is level 1)."""
    value: dict[str, Any] = {"leaf": "v"}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


@pytest.mark.parametrize("text", ["", "plain", "Zoë", "\U0001f600", "tab\tnew\nline", "\u200b"])
def test_ordinary_text_is_storable(text: str) -> None:
    assert storable_reason(text) is None
    assert check_text(text) is text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("\x00", "NUL"),
        ("a\x00b", "NUL"),
        ("\ud800", "surrogates"),
        ("x\udfff", "surrogates"),
        ("\udbff\udc00", "surrogates"),  # a pair as two code points is still two lone halves
    ],
)
def test_nul_and_lone_surrogates_are_not_storable(text: str, reason: str) -> None:
    assert reason in (storable_reason(text) or "")
    with pytest.raises(TextPolicyError, match=reason):
        check_text(text)


def test_text_length_is_counted_in_characters() -> None:
    assert check_text("é" * 10, 10)
    with pytest.raises(TextPolicyError, match="at most 10 characters"):
        check_text("é" * 11, 10)


def test_an_object_at_the_depth_limit_is_accepted_and_one_deeper_is_not() -> None:
    check_json_object(nested(JSON_DEPTH_MAX))
    with pytest.raises(TextPolicyError, match="nested at most"):
        check_json_object(nested(JSON_DEPTH_MAX + 1))


def test_arrays_count_towards_the_depth() -> None:
    check_json_object({"a": [[["x"]]]}, JsonLimits(depth=4))
    with pytest.raises(TextPolicyError, match="nested at most"):
        check_json_object({"a": [[[["x"]]]]}, JsonLimits(depth=4))


def test_a_very_deep_object_is_refused_without_recursing() -> None:
    deep: Any = "v"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(TextPolicyError, match="nested at most"):
        check_json_object({"a": deep})


def test_keys_are_counted_over_all_nested_objects() -> None:
    half = JSON_KEYS_MAX // 2
    check_json_object(
        {"a": {str(i): 1 for i in range(half - 1)}, **{f"b{i}": 1 for i in range(half)}}
    )
    with pytest.raises(TextPolicyError, match=f"at most {JSON_KEYS_MAX} keys"):
        check_json_object(
            {"a": {str(i): 1 for i in range(half)}, **{f"b{i}": 1 for i in range(half)}}
        )


def test_the_encoded_size_is_bounded() -> None:
    # 2-byte characters: the bound is on UTF-8 bytes, not characters.
    fits = {"a": "é" * ((JSON_BYTES_MAX - 20) // 2)}
    check_json_object(fits)
    with pytest.raises(TextPolicyError, match=f"at most {JSON_BYTES_MAX} bytes"):
        check_json_object({"a": "é" * (JSON_BYTES_MAX // 2)})


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"note": "\ud800"}, "note"),
        ({"note": {"items": ["ok", "ok", "a\x00"]}}, "note.items.2"),
        ({"note": {"\udfff": 1}}, "note"),
        ({"\x00": 1}, ""),
        ({"n": float("nan")}, "n"),
        ({"n": [float("inf")]}, "n.0"),
    ],
)
def test_a_refusal_says_where_inside_the_object(value: dict[str, Any], path: str) -> None:
    with pytest.raises(TextPolicyError) as caught:
        check_json_object(value)
    assert caught.value.path == path


def test_keys_have_a_length_limit() -> None:
    check_json_object({"k" * KEY_MAX: 1})
    with pytest.raises(TextPolicyError, match="keys must be at most"):
        check_json_object({"k" * (KEY_MAX + 1): 1})


def test_string_values_have_the_limit_given() -> None:
    limits = JsonLimits(string_length=3)
    check_json_object({"a": "abc"}, limits)
    with pytest.raises(TextPolicyError, match="at most 3 characters"):
        check_json_object({"a": "abcd"}, limits)


def test_safe_text_replaces_only_what_cannot_be_encoded() -> None:
    assert safe_text("Zoë") == "Zoë"
    assert safe_text("a\ud800b\x00c") == "a\ufffdb\ufffdc"
    safe_text("\udfff").encode()  # encodable now


def test_safe_json_returns_well_formed_values_unchanged() -> None:
    value = {"a": [1, 2.5, None, True, {"b": "Zoë"}]}
    assert safe_json(value) is value


def test_safe_json_makes_hostile_stored_values_renderable() -> None:
    value = {"\ud800": "x\udfff", "deep": nested(300), "n": float("nan"), "list": ["\x00"]}

    safe = safe_json(value)

    json.dumps(safe, ensure_ascii=False, allow_nan=False).encode()
    assert safe["\ufffd"] == "x\ufffd"
    assert safe["n"] is None
    assert safe["list"] == ["\ufffd"]
    cut = safe["deep"]
    for _ in range(JSON_DEPTH_MAX - 1):  # "deep" is level 2; level 10 is the last object
        cut = cut["k"]
    assert cut == TRUNCATED


# --- properties ------------------------------------------------------------------------------

_TEXT = st.text(st.characters() | st.sampled_from(["\x00", "\ud800", "\udfff"]), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)
_OBJECTS = st.dictionaries(_TEXT, _JSON, max_size=4)
_PROFILE = settings(derandomize=True, database=None, max_examples=300)


def _utf8_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


@_PROFILE
@given(_OBJECTS)
def test_what_the_policy_accepts_every_backend_and_encoder_can_hold(value: dict[str, Any]) -> None:
    try:
        check_json_object(value)
    except TextPolicyError:
        return
    encoded = _utf8_json(value)  # no surrogate, no NaN: strict UTF-8 JSON
    assert b"\\u0000" not in json.dumps(value).encode()
    assert len(encoded) <= JSON_BYTES_MAX


@_PROFILE
@given(_OBJECTS)
def test_safe_json_makes_any_value_renderable(value: dict[str, Any]) -> None:
    safe = safe_json(value)

    _utf8_json(safe)
    check_json_object(safe)  # within the size limits, what reads show keeps to the policy
