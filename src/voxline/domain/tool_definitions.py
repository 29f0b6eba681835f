"""A tool's ``definition`` as clients write it: checked, and put in its one canonical form.

The canonical form is the JSON a tool keeps and the API returns, in Ultravox's camelCase, with
every key present::

    {"modelToolName": "lookup_order",
     "description": "Look up an order by its number",
     "http": {"baseUrlPattern": "https://shop.example/orders/{order_id}", "httpMethod": "GET"},
     "dynamicParameters": [{"name": "order_id", "location": "path",
                            "schema": {"type": "string"}, "required": true}],
     "staticParameters": [{"name": "X-Api-Key", "location": "header", "value": "…"}],
     "automaticParameters": [{"name": "call", "location": "body", "knownValue": "call_id"}],
     "timeout": "10s",
     "filler": {"delayMs": 800, "text": "One moment, please."}}

``http`` and ``filler`` may be ``null``: a tool without ``http`` cannot be enabled on an agent
yet. What clients may write besides: ``http.url`` and ``http.method`` for ``baseUrlPattern`` and
``httpMethod``, the ``PARAMETER_LOCATION_BODY`` spellings of locations and the
``KNOWN_PARAM_CALL_ID`` spellings of known values, and ``type: "http"``.

A static ``header`` parameter is a secret. Here it is plain text (or :data:`SECRET_MASK`, which
asks to keep the value already stored); sealing it is the services' job.

A broken rule raises :class:`ValidationFailed` whose ``field`` is the JSON path at fault, such
as ``definition.dynamicParameters[1].schema.type``. The JSON Schema of each dynamic parameter is
checked against the Draft 2020-12 metaschema with ``jsonschema``, a pure validation library:
the one import here from outside the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from voxline.domain import text as policy
from voxline.domain.durations import Bounds, DurationError, format_duration, parse_duration
from voxline.domain.tools import (
    BUILTIN_NAMES,
    DEFAULT_FILLER_DELAY_SECONDS,
    DEFAULT_FILLER_TEXT,
    DEFAULT_TIMEOUT_SECONDS,
    MAX_TIMEOUT_SECONDS,
    MODEL_TOOL_NAME_PATTERN,
    AutomaticParameter,
    DynamicParameter,
    Filler,
    HttpTool,
    KnownValue,
    ParameterLocation,
    StaticParameter,
)
from voxline.errors import ValidationFailed

NAME_MAX = 255
DESCRIPTION_MAX = 8000
URL_MAX = 2048
PARAMETERS_MAX = 100  # of each kind
PARAMETER_NAME_MAX = 128
STATIC_VALUE_MAX = 4096
FILLER_TEXT_MAX = 500
FILLER_DELAY_MAX_MS = 60_000
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TIMEOUT_BOUNDS = Bounds(minimum=0.1, maximum=MAX_TIMEOUT_SECONDS)
DEFAULT_TIMEOUT = format_duration(DEFAULT_TIMEOUT_SECONDS)
DEFAULT_FILLER_DELAY_MS = round(DEFAULT_FILLER_DELAY_SECONDS * 1000)

SECRET_MASK = "********"
"""What the API shows for a secret; written back, it keeps the stored secret."""

# Deeper and larger than other JSON objects the API stores: a definition nests JSON Schemas.
DEFINITION_LIMITS = policy.JsonLimits(depth=24, keys=2000, encoded_bytes=64 * 1024)

_MODEL_TOOL_NAME = re.compile(MODEL_TOOL_NAME_PATTERN, re.ASCII)
# An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", re.ASCII)
_PATH_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$", re.ASCII)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

_LOCATIONS: dict[str, ParameterLocation] = {
    **{loc.value: loc for loc in ParameterLocation},
    **{f"PARAMETER_LOCATION_{loc.name}": loc for loc in ParameterLocation},
}
_KNOWN_VALUES: dict[str, KnownValue] = {
    **{known.value: known for known in KnownValue},
    **{f"KNOWN_PARAM_{known.name}": known for known in KnownValue},
}
_KEYS = {
    "modelToolName",
    "type",
    "description",
    "http",
    "dynamicParameters",
    "staticParameters",
    "automaticParameters",
    "timeout",
    "filler",
}


# --- small readers ----------------------------------------------------------------------------


def _fail(path: str, reason: str, **extra: Any) -> ValidationFailed:
    return ValidationFailed.field(path, reason, **extra)


def json_path(base: str, parts: Iterable[object]) -> str:
    """``base`` followed by object keys (``.key``) and array indexes (``[1]``)."""
    out = base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def as_object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "must be an object")
    return value


def only_keys(obj: Mapping[str, Any], path: str, allowed: Iterable[str]) -> None:
    known = set(allowed)
    unknown = sorted(str(key) for key in obj if key not in known)
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", "is not a known field", allowed=sorted(known))


def as_list(value: object, path: str, maximum: int) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise _fail(path, "must be an array")
    if len(value) > maximum:
        raise _fail(path, f"must have at most {maximum} items")
    return list(value)


def as_text(value: object, path: str, *, maximum: int, blank: bool = False) -> str:
    """A string within ``maximum`` characters, storable; not blank unless ``blank``."""
    if not isinstance(value, str):
        raise _fail(path, "must be a string")
    if not blank and not value.strip():
        raise _fail(path, "must not be empty")
    try:
        return policy.check_text(value, maximum)
    except policy.TextPolicyError as exc:
        raise _fail(path, exc.reason) from None


def as_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(path, "must be true or false")
    return value


def check_json(value: Mapping[str, Any], path: str, limits: policy.JsonLimits) -> None:
    """The text policy over a whole JSON object, naming where it breaks."""
    try:
        policy.check_json_object(value, limits)
    except policy.TextPolicyError as exc:
        raise _fail(f"{path}.{exc.path}" if exc.path else path, exc.reason) from None


# --- names ------------------------------------------------------------------------------------


def check_tool_name(value: object, path: str = "name") -> str:
    """A tool's display name: 1 to 255 characters, not a built-in tool's name."""
    name = as_text(value, path, maximum=NAME_MAX).strip()
    if name in BUILTIN_NAMES:
        raise _fail(path, "is the name of a built-in tool")
    return name


def is_model_tool_name(value: str) -> bool:
    return bool(_MODEL_TOOL_NAME.fullmatch(value)) and value not in BUILTIN_NAMES


def model_tool_name(value: object, path: str) -> str:
    if not isinstance(value, str) or not _MODEL_TOOL_NAME.fullmatch(value):
        raise _fail(path, "must be 1 to 64 letters, digits, '_' or '-'")
    if value in BUILTIN_NAMES:
        raise _fail(path, "is the name of a built-in tool")
    return value


# --- the parts of a definition ----------------------------------------------------------------


def _url(value: object, path: str) -> str:
    url = as_text(value, path, maximum=URL_MAX)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise _fail(path, "must not contain white space or control characters")
    probe = _PLACEHOLDER.sub("x", url)
    if "{" in probe or "}" in probe:
        raise _fail(path, "has an unmatched '{' or '}'")
    try:
        parts = urlsplit(probe)
        parts.port  # noqa: B018 - parsing the port is what checks it
    except ValueError:
        raise _fail(path, "must be an absolute http or https URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(path, "must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise _fail(path, "must not hold credentials; send them in a static header parameter")
    if parts.fragment:
        raise _fail(path, "must not have a fragment")
    raw = urlsplit(url)
    if "{" in raw.netloc or "{" in raw.query:
        raise _fail(path, "may have {placeholders} in its path only")
    return url


def _http(value: object, path: str) -> dict[str, str] | None:
    if value is None:
        return None
    obj = as_object(value, path)
    only_keys(obj, path, ("baseUrlPattern", "httpMethod", "url", "method"))
    if "baseUrlPattern" in obj and "url" in obj:
        raise _fail(f"{path}.url", "give baseUrlPattern or url, not both")
    if "httpMethod" in obj and "method" in obj:
        raise _fail(f"{path}.method", "give httpMethod or method, not both")
    url_key = "url" if "url" in obj else "baseUrlPattern"
    if obj.get(url_key) is None:
        raise _fail(f"{path}.baseUrlPattern", "is required")
    url = _url(obj[url_key], f"{path}.{url_key}")
    method_key = "method" if "method" in obj else "httpMethod"
    method = obj.get(method_key, "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise _fail(f"{path}.{method_key}", f"must be one of {', '.join(METHODS)}")
    return {"baseUrlPattern": url, "httpMethod": method.upper()}


def _location(value: object, path: str) -> ParameterLocation:
    found = _LOCATIONS.get(value) if isinstance(value, str) else None
    if found is None:
        raise _fail(path, "must be body, query, header or path", allowed=sorted(_LOCATIONS))
    return found


def _parameter_name(value: object, path: str, location: ParameterLocation) -> str:
    name = as_text(value, path, maximum=PARAMETER_NAME_MAX)
    if location is ParameterLocation.HEADER and not _HEADER_NAME.fullmatch(name):
        raise _fail(path, "must be an HTTP header name")
    if location is ParameterLocation.PATH and not _PATH_NAME.fullmatch(name):
        raise _fail(path, "must be 1 to 64 letters, digits, '_' or '-' (a path placeholder)")
    return name


def _schema(value: object, path: str) -> dict[str, Any]:
    schema = dict(as_object(value, path))
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise _fail(json_path(path, exc.absolute_path), _short(exc.message)) from None
    return schema


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def static_value(value: object, path: str, location: ParameterLocation) -> Any:
    """A static parameter's value as its location allows: a header takes one line of text
    (or :data:`SECRET_MASK`), a query or path value a scalar, a body value any JSON."""
    if location is ParameterLocation.HEADER:
        text = as_text(value, path, maximum=STATIC_VALUE_MAX)
        if "\r" in text or "\n" in text:
            raise _fail(path, "must be one line")
        return text
    if location in (ParameterLocation.QUERY, ParameterLocation.PATH):
        if isinstance(value, str):
            return as_text(value, path, maximum=STATIC_VALUE_MAX, blank=True)
        if not isinstance(value, bool | int | float):
            raise _fail(path, "must be a string, number or boolean")
        return value
    return value


def _dynamic(item: object, path: str) -> dict[str, Any]:
    obj = as_object(item, path)
    only_keys(obj, path, ("name", "location", "schema", "required"))
    location = _location(obj.get("location", "body"), f"{path}.location")
    entry: dict[str, Any] = {
        "name": _parameter_name(obj.get("name"), f"{path}.name", location),
        "location": location.value,
        "schema": _schema(obj.get("schema", {}), f"{path}.schema"),
        "required": as_bool(obj.get("required", False), f"{path}.required"),
    }
    return entry


def _static(item: object, path: str) -> dict[str, Any]:
    obj = as_object(item, path)
    # ``secret`` is what the API shows beside a masked value; ``required`` is Ultravox's and
    # means nothing for a value that is always sent. Both are accepted and dropped.
    only_keys(obj, path, ("name", "location", "value", "secret", "required"))
    location = _location(obj.get("location", "body"), f"{path}.location")
    if "value" not in obj:
        raise _fail(f"{path}.value", "is required")
    return {
        "name": _parameter_name(obj.get("name"), f"{path}.name", location),
        "location": location.value,
        "value": static_value(obj["value"], f"{path}.value", location),
    }


def _automatic(item: object, path: str) -> dict[str, Any]:
    obj = as_object(item, path)
    only_keys(obj, path, ("name", "location", "knownValue"))
    location = _location(obj.get("location", "body"), f"{path}.location")
    raw = obj.get("knownValue")
    known = _KNOWN_VALUES.get(raw) if isinstance(raw, str) else None
    if known is None:
        raise _fail(
            f"{path}.knownValue",
            "must be call_id, caller_number, callee_number or conversation_history",
            allowed=sorted(_KNOWN_VALUES),
        )
    if known is KnownValue.CONVERSATION_HISTORY and location is not ParameterLocation.BODY:
        raise _fail(f"{path}.location", "conversation_history can only be sent in the body")
    return {
        "name": _parameter_name(obj.get("name"), f"{path}.name", location),
        "location": location.value,
        "knownValue": known.value,
    }


def timeout(value: object, path: str) -> str:
    """A tool's timeout as a canonical duration string, up to 120s."""
    if not isinstance(value, str):
        raise _fail(path, 'must be a duration such as "10s" or "1.5s"')
    try:
        return format_duration(parse_duration(value, TIMEOUT_BOUNDS))
    except DurationError as exc:
        raise _fail(path, str(exc)) from None


def filler(value: object, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    obj = as_object(value, path)
    only_keys(obj, path, ("delayMs", "text"))
    delay = obj.get("delayMs", DEFAULT_FILLER_DELAY_MS)
    if isinstance(delay, bool) or not isinstance(delay, int):
        raise _fail(f"{path}.delayMs", "must be a whole number of milliseconds")
    if not 0 <= delay <= FILLER_DELAY_MAX_MS:
        raise _fail(f"{path}.delayMs", f"must be between 0 and {FILLER_DELAY_MAX_MS}")
    text = as_text(obj.get("text", DEFAULT_FILLER_TEXT), f"{path}.text", maximum=FILLER_TEXT_MAX)
    return {"delayMs": delay, "text": text}


def _parameters(
    value: object, path: str, parse: Callable[[object, str], dict[str, Any]]
) -> list[dict[str, Any]]:
    if value is None:
        return []
    return [
        parse(item, f"{path}[{i}]") for i, item in enumerate(as_list(value, path, PARAMETERS_MAX))
    ]


_KINDS = ("dynamicParameters", "staticParameters", "automaticParameters")


def _check_parameter_names(definition: Mapping[str, Any], path: str) -> None:
    """No two parameters share a name in one location (header names ignore case), and no two
    dynamic parameters share a name at all: the model writes them as one object."""
    seen: dict[tuple[str, str], str] = {}
    dynamic: dict[str, str] = {}
    for kind in _KINDS:
        for i, param in enumerate(definition[kind]):
            where = f"{path}.{kind}[{i}].name"
            name = param["name"]
            key = (param["location"], name.lower() if param["location"] == "header" else name)
            if key in seen:
                raise _fail(where, f"duplicates {seen[key]} ({param['location']} {name!r})")
            seen[key] = where
            if kind == "dynamicParameters":
                if name in dynamic:
                    raise _fail(where, f"duplicates {dynamic[name]}: the model sees one object")
                dynamic[name] = where


def _check_placeholders(definition: Mapping[str, Any], path: str) -> None:
    """Each ``{name}`` of the URL is a path parameter, and each path parameter has one."""
    http = definition["http"]
    url = http["baseUrlPattern"] if http else ""
    placeholders = _PLACEHOLDER.findall(url)
    path_names = {
        param["name"]
        for kind in _KINDS
        for param in definition[kind]
        if param["location"] == ParameterLocation.PATH
    }
    for name in placeholders:
        if name not in path_names:
            raise _fail(
                f"{path}.http.baseUrlPattern",
                f"placeholder {{{name}}} has no path parameter of that name",
            )
    for kind in _KINDS:
        for i, param in enumerate(definition[kind]):
            if param["location"] == ParameterLocation.PATH and param["name"] not in placeholders:
                raise _fail(
                    f"{path}.{kind}[{i}].location",
                    f"path parameter {param['name']!r} has no {{{param['name']}}} in "
                    "http.baseUrlPattern",
                )


# --- the whole definition ---------------------------------------------------------------------


def parse_definition(raw: object, *, name: str | None, path: str = "definition") -> dict[str, Any]:
    """The canonical form of a client's ``definition``; ``name`` (the tool's) gives
    ``modelToolName`` when the definition has none."""
    obj = as_object(raw, path)
    check_json(obj, path, DEFINITION_LIMITS)
    only_keys(obj, path, _KEYS)
    if obj.get("type", "http") != "http":
        raise _fail(f"{path}.type", 'must be "http"')
    given = obj.get("modelToolName")
    if given is not None:
        tool_name = model_tool_name(given, f"{path}.modelToolName")
    elif name is not None and is_model_tool_name(name):
        tool_name = name
    else:
        raise _fail(
            f"{path}.modelToolName",
            "is required when the tool's name is not 1 to 64 letters, digits, '_' or '-'",
        )
    description = obj.get("description")
    definition: dict[str, Any] = {
        "modelToolName": tool_name,
        "description": ""
        if description is None
        else as_text(description, f"{path}.description", maximum=DESCRIPTION_MAX, blank=True),
        "http": _http(obj.get("http"), f"{path}.http"),
        "dynamicParameters": _parameters(
            obj.get("dynamicParameters"), f"{path}.dynamicParameters", _dynamic
        ),
        "staticParameters": _parameters(
            obj.get("staticParameters"), f"{path}.staticParameters", _static
        ),
        "automaticParameters": _parameters(
            obj.get("automaticParameters"), f"{path}.automaticParameters", _automatic
        ),
        "timeout": timeout(obj.get("timeout", DEFAULT_TIMEOUT), f"{path}.timeout"),
        "filler": filler(obj.get("filler"), f"{path}.filler"),
    }
    _check_parameter_names(definition, path)
    _check_placeholders(definition, path)
    return definition


def secret_parameters(definition: Mapping[str, Any]) -> Iterable[tuple[int, dict[str, Any]]]:
    """The static parameters whose values are secrets (headers), with their indexes."""
    for i, param in enumerate(definition.get("staticParameters") or ()):
        if param["location"] == ParameterLocation.HEADER:
            yield i, param


# --- to the runtime shape ---------------------------------------------------------------------


def filler_of(value: Mapping[str, Any] | None) -> Filler:
    if value is None:
        return Filler()
    return Filler(delay_seconds=value["delayMs"] / 1000, text=value["text"])


def http_tool_of(definition: Mapping[str, Any], *, tool_id: str | None = None) -> HttpTool | None:
    """The tool a call uses, from a canonical definition with its header values in clear;
    ``None`` when the definition has no ``http`` yet."""
    http = definition.get("http")
    if not http:
        return None
    return HttpTool(
        model_tool_name=definition["modelToolName"],
        description=definition["description"],
        url=http["baseUrlPattern"],
        method=http["httpMethod"],
        dynamic_parameters=tuple(
            DynamicParameter(
                name=p["name"],
                location=ParameterLocation(p["location"]),
                schema=p["schema"],
                required=p["required"],
            )
            for p in definition["dynamicParameters"]
        ),
        static_parameters=tuple(
            StaticParameter(p["name"], ParameterLocation(p["location"]), p["value"])
            for p in definition["staticParameters"]
        ),
        automatic_parameters=tuple(
            AutomaticParameter(
                p["name"], ParameterLocation(p["location"]), KnownValue(p["knownValue"])
            )
            for p in definition["automaticParameters"]
        ),
        timeout_seconds=parse_duration(definition["timeout"]),
        filler=filler_of(definition["filler"]),
        tool_id=tool_id,
    )
