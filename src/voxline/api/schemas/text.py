"""The text and JSON policy of :mod:`voxline.domain.text` as pydantic types for request bodies.

Every string field a request model stores is a :data:`StoredText` (with the field's own
``max_length``); JSON objects are :data:`Variables` or :data:`JsonObject`. A value that breaks
the policy is a 422 ``validation_error`` whose ``details.field`` names the offending spot, down
to the key inside an object (``variables.first_name``, ``context.note.items.2``): the check
runs while the body is validated, before any service or database sees it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from voxline.domain import text as policy

# The error type the API's validation handler extends ``details.field`` with ``ctx.path``.
ERROR_TYPE = "text_policy"


def _refuse(exc: policy.TextPolicyError) -> PydanticCustomError:
    return PydanticCustomError(ERROR_TYPE, "{reason}", {"reason": exc.reason, "path": exc.path})


def storable(value: str) -> str:
    """``value`` when it has no NUL and no lone surrogate (lengths are the field's own)."""
    try:
        return policy.check_text(value)
    except policy.TextPolicyError as exc:
        raise _refuse(exc) from None


StoredText = Annotated[str, AfterValidator(storable)]


def _variables(value: dict[str, Any]) -> dict[str, Any]:
    try:
        if len(value) > policy.VARIABLES_MAX:
            raise policy.TextPolicyError(f"must have at most {policy.VARIABLES_MAX} variables")
        for key, item in value.items():
            if item is not None and not isinstance(item, str | bool | int | float):
                raise policy.TextPolicyError("must be a string, number, boolean or null", key)
        policy.check_json_object(value, _VARIABLE_LIMITS)
    except policy.TextPolicyError as exc:
        raise _refuse(exc) from None
    return value


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    try:
        policy.check_json_object(value, policy.CONTEXT_LIMITS)
    except policy.TextPolicyError as exc:
        raise _refuse(exc) from None
    return value


_VARIABLE_LIMITS = policy.JsonLimits(
    depth=1, keys=policy.VARIABLES_MAX, string_length=policy.VARIABLE_VALUE_MAX
)

_SCALAR = {
    "anyOf": [
        {"type": "string", "maxLength": policy.VARIABLE_VALUE_MAX},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
}

Variables = Annotated[
    dict[str, Any],
    AfterValidator(_variables),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": _SCALAR,
            "maxProperties": policy.VARIABLES_MAX,
            "propertyNames": {"maxLength": policy.KEY_MAX},
            "description": f"At most {policy.VARIABLES_MAX} variables; names up to "
            f"{policy.KEY_MAX} characters, string values up to "
            f"{policy.VARIABLE_VALUE_MAX}; {policy.JSON_BYTES_MAX} bytes as JSON in all",
        }
    ),
]
"""Template variables: scalar values, within the variable limits of the policy."""

JsonObject = Annotated[
    dict[str, Any],
    AfterValidator(_json_object),
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": True,
            "propertyNames": {"maxLength": policy.KEY_MAX},
            "description": f"Any JSON object nested at most {policy.JSON_DEPTH_MAX} levels, "
            f"with at most {policy.JSON_KEYS_MAX} keys in all (each up to {policy.KEY_MAX} "
            f"characters) and {policy.JSON_BYTES_MAX} bytes as JSON",
        }
    ),
]
"""A free-form JSON object within the nesting, key and size limits of the policy."""
