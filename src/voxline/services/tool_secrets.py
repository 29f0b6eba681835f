"""The secrets in tools and in agents' tool overrides: static ``header`` parameter values.

Each is sealed with the deployment's :class:`~voxline.crypto.SecretBox` before it is stored,
kept as ``{"name", "location": "header", "sealed": token}``. Clients see it as
``{"name", "location": "header", "value": "********", "secret": true}``; sending that mask back
keeps the stored secret. Only :func:`open_parameters` opens one, for the call runtime; nothing
here writes a value to a log or an error message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from voxline.config import Settings
from voxline.crypto import SecretBox
from voxline.domain.tool_definitions import SECRET_MASK
from voxline.domain.tools import ParameterLocation
from voxline.errors import ValidationFailed

# --- secrets ----------------------------------------------------------------------------------


def box_for(settings: Settings) -> SecretBox:
    return SecretBox(settings.resolved_secret_key())


def _is_secret(param: Mapping[str, Any]) -> bool:
    return bool(param.get("location") == ParameterLocation.HEADER)


def seal_parameters(
    params: Sequence[Mapping[str, Any]],
    box: SecretBox,
    previous: Sequence[Mapping[str, Any]],
    path: str,
) -> list[dict[str, Any]]:
    """Static parameters as stored: each header value sealed. A value that is the mask takes
    the sealed value of the same header (names ignore case) in ``previous``, the stored
    parameters it replaces; with none there, it is refused."""
    kept = {p["name"].lower(): p["sealed"] for p in previous if _is_secret(p) and "sealed" in p}
    stored: list[dict[str, Any]] = []
    for i, param in enumerate(params):
        if not _is_secret(param):
            stored.append(dict(param))
            continue
        if param["value"] == SECRET_MASK:
            token = kept.get(param["name"].lower())
            if token is None:
                raise ValidationFailed.field(
                    f"{path}[{i}].value",
                    "is the mask of a secret that is not stored; send the value itself",
                )
        else:
            token = box.seal({"value": param["value"]})
        stored.append({"name": param["name"], "location": param["location"], "sealed": token})
    return stored


def mask_parameters(params: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Stored static parameters as clients see them: secrets masked."""
    return [
        {"name": p["name"], "location": p["location"], "value": SECRET_MASK, "secret": True}
        if "sealed" in p
        else dict(p)
        for p in params
    ]


def open_parameters(params: Sequence[Mapping[str, Any]], box: SecretBox) -> list[dict[str, Any]]:
    """Stored static parameters with their secrets in clear, for the call runtime only."""
    return [
        {"name": p["name"], "location": p["location"], "value": box.open(p["sealed"])["value"]}
        if "sealed" in p
        else dict(p)
        for p in params
    ]


def _with_parameters(
    definition: Mapping[str, Any] | None, params: list[dict[str, Any]]
) -> dict[str, Any] | None:
    return None if definition is None else {**definition, "staticParameters": params}


def public_definition(stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    return _with_parameters(stored, mask_parameters(stored.get("staticParameters") or []))


def opened_definition(stored: Mapping[str, Any] | None, box: SecretBox) -> dict[str, Any] | None:
    if stored is None:
        return None
    return _with_parameters(stored, open_parameters(stored.get("staticParameters") or [], box))


def seal_definition(
    definition: dict[str, Any], box: SecretBox, previous: Mapping[str, Any] | None
) -> dict[str, Any]:
    params = seal_parameters(
        definition["staticParameters"],
        box,
        (previous or {}).get("staticParameters") or [],
        "definition.staticParameters",
    )
    return {**definition, "staticParameters": params}
