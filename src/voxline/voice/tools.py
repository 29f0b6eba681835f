"""The tools of a live call's agent: what the model is offered, and running what it calls.

A session gets :class:`SessionTools`: the agent's :class:`~voxline.domain.tools.AgentTools`,
the :class:`CallControl` of its call (transfer, keys, the voicemail outcome), the runner of
its HTTP tools and the call's :class:`Timeline`. The session decides *when* a tool runs
(after what it said, with a filler line when the tool is slow); this module says *what*
the model sees (:meth:`SessionTools.specs`) and turns every outcome of an HTTP tool into a
result the model can read: a success, or ``{"error": …}`` for bad arguments, a timeout, a
failure or an unusable answer. A tool call never ends without a result.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jsonschema

from voxline.domain.tools import AgentTools, BuiltinTool, Filler, HttpTool
from voxline.voice.brain.base import ToolCall, ToolResult, ToolSpec, Turn

DIGITS_PATTERN = r"^[0-9*#wW]{1,32}$"
# How long an agent leaving a voicemail waits for the beep before it speaks anyway.
BEEP_WAIT_SECONDS = 10.0
RESULT_MAX_CHARS = 16_000


class ToolFailed(Exception):
    """A tool could not do its work; the message is what the model is told (no secrets)."""


class CallControl(Protocol):
    """What an agent may do to its own call, beyond talking."""

    async def transfer(self, destination: str) -> None:
        """Hand the caller over to ``destination``; raises :class:`ToolFailed`."""

    async def send_digits(self, digits: str) -> bool:
        """Press keys through the carrier: False when they must be played as tones in the
        call's audio instead; raises :class:`ToolFailed`."""

    async def voicemail_left(self) -> None:
        """The agent left its voicemail message: the call ends ``voicemail``."""


class HttpToolRunner(Protocol):
    async def run(
        self, tool: HttpTool, call: ToolCall, arguments: Mapping[str, Any], history: Sequence[Turn]
    ) -> Any:
        """Send the tool's request; its JSON answer. Raises :class:`ToolFailed`."""


class Timeline(Protocol):
    async def record(self, kind: str, data: Mapping[str, Any]) -> None:
        """Note something the agent did on the call's timeline (best effort)."""


def error_result(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call.id, call.name, json.dumps({"error": message}))


def json_result(call: ToolCall, value: Any) -> ToolResult:
    """``value`` as the model reads it, cut to :data:`RESULT_MAX_CHARS`."""
    content = json.dumps(value, ensure_ascii=False, default=str)
    if len(content) > RESULT_MAX_CHARS:
        return error_result(call, f"the tool's answer is over {RESULT_MAX_CHARS} characters")
    return ToolResult(call.id, call.name, content)


def parse_arguments(call: ToolCall) -> dict[str, Any]:
    """The call's arguments as an object; raises :class:`ToolFailed`."""
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError:
        raise ToolFailed("the arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise ToolFailed("the arguments must be a JSON object")
    return value


@dataclass(frozen=True, slots=True)
class SessionTools:
    agent: AgentTools
    control: CallControl | None = None
    http: HttpToolRunner | None = None
    timeline: Timeline | None = None

    def http_tool(self, name: str) -> HttpTool | None:
        return next((t for t in self.agent.http if t.model_tool_name == name), None)

    def enabled(self, name: str) -> bool:
        if name == BuiltinTool.TRANSFER_CALL:
            return self.agent.transfer is not None
        if name == BuiltinTool.SEND_DTMF:
            return self.agent.send_dtmf
        if name == BuiltinTool.LEAVE_VOICEMAIL:
            return self.agent.voicemail is not None
        return self.http_tool(name) is not None

    def filler(self, calls: Sequence[ToolCall]) -> Filler | None:
        """The filler of a round of calls: the soonest of its HTTP tools' (None: no HTTP
        tool in the round)."""
        fillers = [t.filler for c in calls if (t := self.http_tool(c.name)) is not None]
        return min(fillers, key=lambda f: f.delay_seconds) if fillers else None

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools the model is offered besides ``end_call``."""
        specs: list[ToolSpec] = []
        transfer = self.agent.transfer
        if transfer is not None:
            choices = [d.to for d in transfer.destinations]
            listed = "; ".join(
                f"{d.to}" + (f" ({d.description})" if d.description else "")
                for d in transfer.destinations
            )
            specs.append(
                ToolSpec(
                    BuiltinTool.TRANSFER_CALL.value,
                    "Transfer the caller to a person (a cold transfer: you leave the call). "
                    f"Destinations: {listed}. Use it when the caller asks for a person or "
                    "needs what only they can do.",
                    {
                        "type": "object",
                        "properties": {
                            "destination": {"type": "string", "enum": choices},
                            "reason": {"type": "string"},
                        },
                        "required": [] if len(choices) == 1 else ["destination"],
                    },
                )
            )
        if self.agent.send_dtmf:
            specs.append(
                ToolSpec(
                    BuiltinTool.SEND_DTMF.value,
                    "Press keys on the phone keypad, e.g. to choose an option in an automated "
                    "phone menu. 'w' waits half a second. After pressing, listen.",
                    {
                        "type": "object",
                        "properties": {"digits": {"type": "string", "pattern": DIGITS_PATTERN}},
                        "required": ["digits"],
                    },
                )
            )
        if self.agent.voicemail is not None:
            specs.append(
                ToolSpec(
                    BuiltinTool.LEAVE_VOICEMAIL.value,
                    "Call this when you reached an answering machine or a voicemail greeting: "
                    "the agent waits for the beep, leaves its voicemail message and hangs up.",
                    {"type": "object", "properties": {}, "required": []},
                )
            )
        specs += [
            ToolSpec(t.model_tool_name, t.description, t.model_parameters())
            for t in self.agent.http
        ]
        return tuple(specs)

    async def run_http(
        self,
        call: ToolCall,
        history: Sequence[Turn],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> ToolResult:
        """Run an HTTP tool call within its timeout (timed with ``sleep``: the session's
        clock); always a result."""
        tool = self.http_tool(call.name)
        if tool is None or self.http is None:
            return error_result(call, f"there is no tool named {call.name!r}")
        try:
            arguments = parse_arguments(call)
            _check_arguments(tool, arguments)
        except ToolFailed as exc:
            return error_result(call, str(exc))
        work = asyncio.ensure_future(self.http.run(tool, call, arguments, history))
        timer = asyncio.ensure_future(sleep(tool.timeout_seconds))
        try:
            await asyncio.wait([work, timer], return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            timed_out = not work.done()
            if timed_out:
                work.cancel()
        if timed_out or work.cancelled():
            return error_result(call, f"the tool did not answer within {tool.timeout_seconds:g}s")
        try:
            value = work.result()
        except ToolFailed as exc:
            return error_result(call, str(exc))
        except Exception as exc:  # a runner's bug must not end the call
            return error_result(call, f"the tool failed ({type(exc).__name__})")
        return json_result(call, value)


def _check_arguments(tool: HttpTool, arguments: Mapping[str, Any]) -> None:
    """Arguments the model wrote, checked against the tool's parameters."""
    try:
        jsonschema.validate(dict(arguments), tool.model_parameters())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "arguments"
        raise ToolFailed(f"invalid arguments at {where}: {exc.message}") from None
    except jsonschema.SchemaError:
        raise ToolFailed("the tool's parameters are not a valid schema") from None
