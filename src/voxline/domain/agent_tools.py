"""An agent's ``tools`` as a client lists them: which tools, and the agent's overrides of each.

An entry names a built-in (``{"name": "transfer_call", "overrides": {...}}``) or one of the
organization's tools, by ``tool_id`` or by ``name`` (the tool's name or ``modelToolName``; the
services resolve it to the tool's id when the agent is saved, so renaming the tool later breaks
nothing). With both, ``tool_id`` wins: an agent's ``tools`` as the API shows them (each with
the tool's id and current name) can be sent back as they are. A bare string is a tool id when
it is a UUID, else a name.

Overrides, by kind of tool:

- an HTTP tool: ``description``, ``timeout``, ``staticParameters`` (``[{name, value}]``, each
  naming one of the tool's static parameters) and ``filler``;
- ``transfer_call``: ``destinations`` (required: 1 to 20 ``{to, description?}``, ``to`` an E.164
  number or a ``sip:`` URI) and ``message`` (said before the transfer);
- ``leave_voicemail``: ``message`` (required, 1 to 2000 characters);
- ``end_call`` and ``send_dtmf``: none.

A broken rule raises :class:`ValidationFailed` naming the entry (``tools[2]``) or the spot in
it (``tools[2].overrides.destinations[0].to``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from voxline.domain import text as policy
from voxline.domain.durations import parse_duration
from voxline.domain.phone import is_transfer_destination
from voxline.domain.tool_definitions import (
    DESCRIPTION_MAX,
    NAME_MAX,
    PARAMETERS_MAX,
    as_list,
    as_object,
    as_text,
    check_json,
    filler,
    filler_of,
    only_keys,
    static_value,
    timeout,
)
from voxline.domain.tools import (
    BUILTIN_NAMES,
    AgentTools,
    BuiltinTool,
    HttpTool,
    ParameterLocation,
    StaticParameter,
    TransferDestination,
    TransferSettings,
    VoicemailSettings,
)
from voxline.errors import ValidationFailed

TOOLS_MAX = 50
DESTINATIONS_MAX = 20
MESSAGE_MAX = 2000
DESTINATION_DESCRIPTION_MAX = 500
OVERRIDES_LIMITS = policy.JsonLimits(depth=8, keys=500, encoded_bytes=32 * 1024)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """One checked entry of an agent's ``tools``, at ``path``.

    Exactly one of ``builtin``, ``tool_id`` and ``name`` is set. ``overrides`` is canonical;
    an HTTP tool's ``staticParameters`` are still to be checked against the tool
    (:func:`check_static_overrides`).
    """

    path: str
    builtin: BuiltinTool | None = None
    tool_id: str | None = None
    name: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def _fail(path: str, reason: str) -> ValidationFailed:
    return ValidationFailed.field(path, reason)


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# --- overrides --------------------------------------------------------------------------------


def _static_overrides(value: object, path: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(as_list(value, path, PARAMETERS_MAX)):
        where = f"{path}[{i}]"
        obj = as_object(item, where)
        # ``location`` and ``secret`` are what the API shows; the tool decides the location.
        only_keys(obj, where, ("name", "value", "location", "secret"))
        name = as_text(obj.get("name"), f"{where}.name", maximum=NAME_MAX)
        if "value" not in obj:
            raise _fail(f"{where}.value", "is required")
        if name.lower() in seen:
            raise _fail(f"{where}.name", f"duplicates {seen[name.lower()]}")
        seen[name.lower()] = f"{where}.name"
        entries.append({"name": name, "value": obj["value"]})
    return entries


def _http_overrides(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    only_keys(obj, path, ("description", "timeout", "staticParameters", "filler"))
    out: dict[str, Any] = {}
    if "description" in obj:
        out["description"] = as_text(
            obj["description"], f"{path}.description", maximum=DESCRIPTION_MAX
        )
    if "timeout" in obj:
        out["timeout"] = timeout(obj["timeout"], f"{path}.timeout")
    if "staticParameters" in obj:
        out["staticParameters"] = _static_overrides(
            obj["staticParameters"], f"{path}.staticParameters"
        )
    if "filler" in obj:
        given = filler(as_object(obj["filler"], f"{path}.filler"), f"{path}.filler")
        out["filler"] = given
    return out


def _message(value: object, path: str) -> str:
    return as_text(value, path, maximum=MESSAGE_MAX)


def _transfer_overrides(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    only_keys(obj, path, ("destinations", "message"))
    if obj.get("destinations") is None:
        raise _fail(f"{path}.destinations", "is required: where transfer_call may send a call")
    items = as_list(obj["destinations"], f"{path}.destinations", DESTINATIONS_MAX)
    if not items:
        raise _fail(f"{path}.destinations", "must list at least one destination")
    destinations: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        where = f"{path}.destinations[{i}]"
        entry = as_object(item, where)
        only_keys(entry, where, ("to", "description"))
        to = entry.get("to")
        if not isinstance(to, str) or not is_transfer_destination(to):
            raise _fail(f"{where}.to", "must be an E.164 number such as +14155550100 or a sip: URI")
        if to in seen:
            raise _fail(f"{where}.to", f"duplicates {seen[to]}")
        seen[to] = f"{where}.to"
        description = entry.get("description")
        if description is not None:
            description = as_text(
                description, f"{where}.description", maximum=DESTINATION_DESCRIPTION_MAX
            )
        destinations.append({"to": to, "description": description})
    out: dict[str, Any] = {"destinations": destinations}
    if obj.get("message") is not None:
        out["message"] = _message(obj["message"], f"{path}.message")
    return out


def _voicemail_overrides(obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    only_keys(obj, path, ("message",))
    if obj.get("message") is None:
        raise _fail(f"{path}.message", "is required: what the agent leaves on the voicemail")
    return {"message": _message(obj["message"], f"{path}.message")}


def _builtin_overrides(builtin: BuiltinTool, obj: Mapping[str, Any], path: str) -> dict[str, Any]:
    if builtin is BuiltinTool.TRANSFER_CALL:
        return _transfer_overrides(obj, path)
    if builtin is BuiltinTool.LEAVE_VOICEMAIL:
        return _voicemail_overrides(obj, path)
    only_keys(obj, path, ())
    return {}


# --- entries ----------------------------------------------------------------------------------


def _choice(item: object, path: str) -> ToolChoice:
    if isinstance(item, str):
        item = {"tool_id": item} if _uuid(item) else {"name": item}
    obj = as_object(item, path)
    only_keys(obj, path, ("tool_id", "name", "overrides"))
    tool_id, name = obj.get("tool_id"), obj.get("name")
    if tool_id is None and name is None:
        raise _fail(path, "give tool_id or name")
    raw_overrides = obj.get("overrides")
    overrides = {} if raw_overrides is None else as_object(raw_overrides, f"{path}.overrides")
    check_json(overrides, f"{path}.overrides", OVERRIDES_LIMITS)
    if tool_id is not None:
        canonical = _uuid(tool_id) if isinstance(tool_id, str) else None
        if canonical is None:
            raise _fail(f"{path}.tool_id", "must be a UUID")
        return ToolChoice(
            path, tool_id=canonical, overrides=_http_overrides(overrides, f"{path}.overrides")
        )
    name = as_text(name, f"{path}.name", maximum=NAME_MAX).strip()
    if name in BUILTIN_NAMES:
        builtin = BuiltinTool(name)
        return ToolChoice(
            path,
            builtin=builtin,
            overrides=_builtin_overrides(builtin, overrides, f"{path}.overrides"),
        )
    return ToolChoice(path, name=name, overrides=_http_overrides(overrides, f"{path}.overrides"))


def parse_tool_choices(raw: object, path: str = "tools") -> list[ToolChoice]:
    """The checked entries of an agent's ``tools``; the same built-in or tool id twice is
    refused (the services refuse a tool named twice once names are resolved)."""
    choices: list[ToolChoice] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(as_list(raw, path, TOOLS_MAX)):
        choice = _choice(item, f"{path}[{i}]")
        key = choice.builtin or choice.tool_id
        if key is not None:
            if key in seen:
                raise _fail(choice.path, f"duplicates {seen[key]}")
            seen[key] = choice.path
        choices.append(choice)
    return choices


def check_distinct(entries: Iterable[tuple[str, str, str]]) -> None:
    """Refuse two entries ``(path, tool_id, model_tool_name)`` that are the same tool, or
    whose tools the model would see under one name."""
    by_id: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for path, tool_id, model_name in entries:
        if tool_id in by_id:
            raise _fail(path, f"duplicates {by_id[tool_id]}")
        if model_name in by_name:
            raise _fail(path, f"has the modelToolName {model_name!r} of {by_name[model_name]}")
        by_id[tool_id] = by_name[model_name] = path


def check_static_overrides(
    overrides: Mapping[str, Any], definition: Mapping[str, Any], path: str
) -> dict[str, Any]:
    """``overrides`` of an HTTP tool whose ``definition`` is known: each overridden static
    parameter exists on the tool and its value suits the parameter's location. The entries
    come back with the tool's spelling of the name and its ``location``."""
    if "staticParameters" not in overrides:
        return dict(overrides)
    params = {p["name"].lower(): p for p in definition.get("staticParameters") or ()}
    checked: list[dict[str, Any]] = []
    for i, entry in enumerate(overrides["staticParameters"]):
        where = f"{path}.staticParameters[{i}]"
        param = params.get(entry["name"].lower())
        if param is None:
            raise _fail(f"{where}.name", "is not a static parameter of this tool")
        location = ParameterLocation(param["location"])
        value = static_value(entry["value"], f"{where}.value", location)
        checked.append({"name": param["name"], "location": location.value, "value": value})
    return {**overrides, "staticParameters": checked}


# --- to the runtime shape ---------------------------------------------------------------------


def apply_overrides(tool: HttpTool, overrides: Mapping[str, Any]) -> HttpTool:
    """``tool`` as the agent uses it: its overrides in clear (header values opened)."""
    changes: dict[str, Any] = {}
    if "description" in overrides:
        changes["description"] = overrides["description"]
    if "timeout" in overrides:
        changes["timeout_seconds"] = parse_duration(overrides["timeout"])
    if "filler" in overrides:
        changes["filler"] = filler_of(overrides["filler"])
    if "staticParameters" in overrides:
        values = {e["name"].lower(): e["value"] for e in overrides["staticParameters"]}
        changes["static_parameters"] = tuple(
            StaticParameter(p.name, p.location, values.get(p.name.lower(), p.value))
            for p in tool.static_parameters
        )
    return dataclasses.replace(tool, **changes) if changes else tool


def agent_tools_of(
    http: Sequence[HttpTool], builtins: Iterable[tuple[BuiltinTool, Mapping[str, Any]]]
) -> AgentTools:
    """Everything an agent may call, from its HTTP tools and its built-ins' overrides."""
    transfer: TransferSettings | None = None
    voicemail: VoicemailSettings | None = None
    send_dtmf = False
    for builtin, overrides in builtins:
        if builtin is BuiltinTool.TRANSFER_CALL:
            transfer = TransferSettings(
                destinations=tuple(
                    TransferDestination(d["to"], d.get("description"))
                    for d in overrides["destinations"]
                ),
                message=overrides.get("message"),
            )
        elif builtin is BuiltinTool.LEAVE_VOICEMAIL:
            voicemail = VoicemailSettings(message=overrides["message"])
        elif builtin is BuiltinTool.SEND_DTMF:
            send_dtmf = True
    return AgentTools(http=tuple(http), transfer=transfer, send_dtmf=send_dtmf, voicemail=voicemail)
