"""Building an HTTP tool's request from the model's arguments: the pure part.

Every parameter goes where its definition says: into the URL's ``{name}`` placeholders
(percent-encoded), the query string, a header or the JSON body. Static parameters come
from the definition, automatic ones from the call. A ``GET`` or ``DELETE`` has no body: its
body parameters are sent in the query string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from voxline.domain.tools import HttpTool, KnownValue, ParameterLocation

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.-]+)\}")
_BODYLESS = frozenset({"GET", "DELETE"})


class RequestProblem(ValueError):
    """The request cannot be built (the message is for the model; no secrets in it)."""


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What automatic parameters are filled from."""

    call_id: str
    caller_number: str | None
    callee_number: str | None


@dataclass(slots=True)
class ToolRequest:
    method: str
    url: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    def content(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body, separators=(",", ":")).encode()


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def automatic_value(known: KnownValue, facts: CallFacts, history: list[dict[str, str]]) -> Any:
    if known is KnownValue.CALL_ID:
        return facts.call_id
    if known is KnownValue.CALLER_NUMBER:
        return facts.caller_number
    if known is KnownValue.CALLEE_NUMBER:
        return facts.callee_number
    return history


def build_request(
    tool: HttpTool,
    arguments: Mapping[str, Any],
    facts: CallFacts,
    history: list[dict[str, str]],
) -> ToolRequest:
    """The request for one call of ``tool`` with the model's (already checked) arguments."""
    values: list[tuple[str, ParameterLocation, Any]] = []
    for static in tool.static_parameters:
        values.append((static.name, static.location, static.value))
    for automatic in tool.automatic_parameters:
        values.append(
            (
                automatic.name,
                automatic.location,
                automatic_value(automatic.known_value, facts, history),
            )
        )
    for dynamic in tool.dynamic_parameters:
        if dynamic.name in arguments:
            values.append((dynamic.name, dynamic.location, arguments[dynamic.name]))
    method = tool.method.upper()
    request = ToolRequest(method, tool.url)
    path: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name, location, value in values:
        if value is None:
            continue
        if location is ParameterLocation.PATH:
            path[name] = quote(_text(value), safe="")
        elif location is ParameterLocation.QUERY:
            request.query[name] = _text(value)
        elif location is ParameterLocation.HEADER:
            request.headers[name] = _text(value)
        elif method in _BODYLESS:
            request.query[name] = _text(value)
        else:
            body[name] = value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in path:
            raise RequestProblem(f"the path parameter {name!r} has no value")
        return path[name]

    request.url = _PLACEHOLDER.sub(substitute, tool.url)
    if method not in _BODYLESS:
        request.body = body
    return request
