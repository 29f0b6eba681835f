"""The scripted brain: deterministic, offline, and the default with no LLM configured.

It greets with the agent's greeting (the call's override wins), then says the agent's script
lines one per turn. Script lines are the lines of the system prompt that start with ``-``,
``*`` or a number (``1.``/``1)``), rendered with the call's variables. It recognises a
goodbye, a "not interested" and a "stop calling" reply and closes politely; once the script
is done it asks whether there is anything else, and after two silences it hangs up.

It calls tools deterministically, so every tool works offline:

- A script line may call a tool: ``- Let me check. [lookup_order {"id": "{{order_id}}"}]
  Your order is {{lookup_order.status}}.`` The text before the brackets is said, the tool is
  called with the JSON arguments (rendered with the call's variables), and the text after
  them is the next reply, rendered with the tool's JSON result as ``{{tool_name.field}}``
  (nested fields with dots). A failed tool gets :data:`TOOL_FAILED_REPLY` instead; a tool
  the agent does not have is not called (only the words before it are said).
- With the built-in tools enabled on the agent: a contact who asks for a person (a human, a
  representative, an operator...) is transferred (``transfer_call``); a phone menu ("for
  appointments, press 1") gets the key of the option the system prompt mentions
  (``send_dtmf``); a voicemail greeting ("leave a message after the beep") gets the agent's
  voicemail message (``leave_voicemail``). A transfer that fails is said to have failed.

Its reply is a pure function of the history it is given (``replayable``): where it is in
the script is read from the history — the contact turns it answered with a script line
before — not kept in a counter, and so are a tool line's words after the tool and the tool
calls' ids. So the session may ask it ahead, while the end of a contact's turn is still
being decided, and throw the answer away if the contact goes on (``voice.speculation``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from voxline.domain.templates import render
from voxline.voice.brain.base import AgentProfile, Reply, ToolCall, ToolTurn, Turn, Utterance

_SCRIPT_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$")

_STOP_CALLING = re.compile(
    r"\b(stop calling|don'?t call|do not call|remove (me|my number)|take me off)\b", re.I
)


def asks_not_to_be_called(text: str) -> bool:
    """Whether ``text`` (something the contact said) asks not to be called again."""
    return bool(_STOP_CALLING.search(text))


_NOT_INTERESTED = re.compile(r"\b(not interested|no thanks|no thank you|not for me)\b", re.I)
_GOODBYE = re.compile(
    r"\b(good ?bye|bye|that'?s all|that covers it|have a (good|nice) day)\b", re.I
)

DEFAULT_GREETING = "Hello, this is an automated assistant. How can I help you today?"
ANYTHING_ELSE = "Is there anything else I can help you with?"
FAREWELL = "Thank you for your time. Goodbye!"
NOT_INTERESTED_REPLY = "I understand. Thank you for your time, and have a good day. Goodbye!"
STOP_CALLING_REPLY = "Understood, I'm sorry for the interruption. We won't call you again. Goodbye!"
STILL_THERE = "Are you still there?"
SILENT_FAREWELL = "It seems I can't hear you, so I'll let you go. Goodbye!"
TOOL_FAILED_REPLY = "I'm sorry, I couldn't get that information right now."
TRANSFER_FAILED_REPLY = (
    "I'm sorry, I couldn't put you through right now. Is there anything I can help you with?"
)

_TOOL_IN_LINE = re.compile(r"\[([a-zA-Z0-9_-]{1,64})(\s+\{.*\})?\s*\]")
_ASKS_FOR_PERSON = re.compile(
    r"\b(real person|a person|human|representative|operator|someone else|an agent|a manager"
    r"|transfer me|put me through)\b",
    re.I,
)
_VOICEMAIL = re.compile(
    r"\b(leave (a|your) message|after the (beep|tone)|voicemail|voice mail)\b", re.I
)
_MENU_OPTION = (
    re.compile(r"\bfor ([a-z][a-z ]{1,40}?),? press (\d|\*|#)", re.I),
    re.compile(r"\bpress (\d|\*|#) for ([a-z][a-z ]{1,40}?)\b(?=[.,;]|$)", re.I),
)


def _ending(said: str) -> Reply | None:
    """The polite close for a contact who said goodbye, is not interested or asks not to be
    called again; None for anything else."""
    if asks_not_to_be_called(said):
        return Reply(STOP_CALLING_REPLY, end_call=True)
    if _NOT_INTERESTED.search(said):
        return Reply(NOT_INTERESTED_REPLY, end_call=True)
    if _GOODBYE.search(said):
        return Reply(FAREWELL, end_call=True)
    return None


def script_lines(system_prompt: str) -> list[str]:
    return [m.group(1) for line in system_prompt.splitlines() if (m := _SCRIPT_LINE.match(line))]


def menu_options(said: str) -> dict[str, str]:
    """The options of a phone menu heard in ``said``: what each is for → its key."""
    options: dict[str, str] = {}
    for match in _MENU_OPTION[0].finditer(said):
        options[match.group(1).strip().lower()] = match.group(2)
    for match in _MENU_OPTION[1].finditer(said):
        options.setdefault(match.group(2).strip().lower(), match.group(1))
    return options


def _flatten(value: Any, prefix: str, into: dict[str, str]) -> dict[str, str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", into)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}.{index}", into)
    else:
        into[prefix] = "" if value is None else str(value)
    return into


class ScriptedBrain:
    # Asked twice with the same history, it says the same thing (see the module docstring).
    replayable = True

    def __init__(self, profile: AgentProfile) -> None:
        self._profile = profile
        self._script = [
            render(line, profile.variables) for line in script_lines(profile.system_prompt)
        ]
        self._tools = {spec.name for spec in profile.tools}

    async def greet(self) -> Reply:
        greeting = self._profile.greeting
        return Reply(render(greeting, self._profile.variables) if greeting else DEFAULT_GREETING)

    async def respond(self, history: Sequence[Turn]) -> Reply:
        last = history[-1] if history else None
        if isinstance(last, ToolTurn):
            return self._after_results(history)
        said = last.text if last is not None else ""
        ending = _ending(said)
        if ending is not None:
            return ending
        builtin = self._builtin_for(said, history)
        if builtin is not None:
            return builtin
        position = self._script_position(history[:-1])
        if position < len(self._script):
            return self._line(self._script[position], history)
        return Reply(ANYTHING_ELSE)

    def _scripted(self, said: str) -> bool:
        """Whether the contact saying ``said`` gets the next script line (see respond)."""
        return _ending(said) is None and self._builtin_for(said, ()) is None

    def _script_position(self, history: Sequence[Turn]) -> int:
        """How many script lines were said in ``history``: one per contact turn the agent
        answered (the next turn is the agent's) with a script line."""
        said = 0
        for turn, after in itertools.pairwise(history):
            if (
                isinstance(turn, Utterance)
                and turn.speaker == "contact"
                and (isinstance(after, ToolTurn) or after.speaker == "agent")
                and self._scripted(turn.text)
            ):
                said += 1
        return min(said, len(self._script))

    def _call(self, name: str, arguments: Mapping[str, Any], history: Sequence[Turn]) -> ToolCall:
        """A tool call, numbered after the calls already in ``history``."""
        made = sum(len(turn.calls) for turn in history if isinstance(turn, ToolTurn))
        return ToolCall(f"call_{made + 1}", name, json.dumps(dict(arguments)))

    def _builtin_for(self, said: str, history: Sequence[Turn]) -> Reply | None:
        """A built-in tool call for what the contact said, if the agent enabled it."""
        if "leave_voicemail" in self._tools and _VOICEMAIL.search(said):
            return Reply("", tool_calls=(self._call("leave_voicemail", {}, history),))
        if "transfer_call" in self._tools and _ASKS_FOR_PERSON.search(said):
            return Reply("", tool_calls=(self._call("transfer_call", {}, history),))
        if "send_dtmf" in self._tools:
            prompt = self._profile.system_prompt.lower()
            wanted = [key for option, key in menu_options(said).items() if option in prompt]
            if wanted:
                return Reply(
                    "", tool_calls=(self._call("send_dtmf", {"digits": wanted[0]}, history),)
                )
        return None

    def _line(self, line: str, history: Sequence[Turn]) -> Reply:
        """A script line; one with ``[tool {args}]`` calls the tool (see the module)."""
        match = _TOOL_IN_LINE.search(line)
        if match is None:
            return Reply(line)
        if match.group(1) not in self._tools:  # not offered: only the words before it
            return Reply(line[: match.start()].strip() or ANYTHING_ELSE)
        try:
            arguments = json.loads(match.group(2)) if match.group(2) else {}
        except json.JSONDecodeError:
            arguments = {}
        if not isinstance(arguments, dict):
            arguments = {}
        call = self._call(match.group(1), arguments, history)
        return Reply(line[: match.start()].strip(), tool_calls=(call,))

    def _words_after_tool(self, history: Sequence[Turn]) -> str | None:
        """The words after the tool of the script line whose tool the last turn of
        ``history`` ran, if it was one (the contact turn before it got that line)."""
        if len(history) < 2:
            return None
        asked = history[-2]
        if not isinstance(asked, Utterance) or asked.speaker != "contact":
            return None
        if not self._scripted(asked.text):
            return None
        position = self._script_position(history[:-2])
        if position >= len(self._script):
            return None
        line = self._script[position]
        match = _TOOL_IN_LINE.search(line)
        if match is None or match.group(1) not in self._tools:
            return None
        return line[match.end() :].strip() or None

    def _after_results(self, history: Sequence[Turn]) -> Reply:
        """The reply once the tools of the last turn of ``history`` answered."""
        turn = history[-1]
        assert isinstance(turn, ToolTurn)
        results: dict[str, str] = {}
        failed = []
        for result in turn.results:
            try:
                value = json.loads(result.content)
            except json.JSONDecodeError:
                value = result.content
            if isinstance(value, Mapping) and "error" in value:
                failed.append(result.name)
            _flatten(value, result.name, results)
        after = self._words_after_tool(history)
        if "transfer_call" in failed:
            return Reply(TRANSFER_FAILED_REPLY)
        if failed:
            return Reply(TOOL_FAILED_REPLY)
        if after:
            return Reply(render(after, {**self._profile.variables, **results}))
        return Reply(ANYTHING_ELSE)

    async def on_silence(self, attempts: int) -> Reply:
        if attempts >= 2:
            return Reply(SILENT_FAREWELL, end_call=True)
        return Reply(STILL_THERE)
