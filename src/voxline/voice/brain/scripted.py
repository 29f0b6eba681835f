"""The scripted brain: deterministic, offline, and the default with no LLM configured.

It greets with the agent's greeting (the call's override wins), then says the agent's script
lines one per turn. Script lines are the lines of the system prompt that start with ``-``,
``*`` or a number (``1.``/``1)``), rendered with the call's variables. It recognises a
goodbye, a "not interested" and a "stop calling" reply and closes politely; once the script
is done it asks whether there is anything else, and after two silences it hangs up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from voxline.domain.templates import render
from voxline.voice.brain.base import AgentProfile, Reply, Utterance

_SCRIPT_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.+?)\s*$")

_STOP_CALLING = re.compile(
    r"\b(stop calling|don'?t call|do not call|remove (me|my number)|take me off)\b", re.I
)
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


def script_lines(system_prompt: str) -> list[str]:
    return [m.group(1) for line in system_prompt.splitlines() if (m := _SCRIPT_LINE.match(line))]


class ScriptedBrain:
    def __init__(self, profile: AgentProfile) -> None:
        self._profile = profile
        self._script = [
            render(line, profile.variables) for line in script_lines(profile.system_prompt)
        ]
        self._next = 0

    async def greet(self) -> Reply:
        greeting = self._profile.greeting
        return Reply(render(greeting, self._profile.variables) if greeting else DEFAULT_GREETING)

    async def respond(self, history: Sequence[Utterance]) -> Reply:
        said = history[-1].text if history else ""
        if _STOP_CALLING.search(said):
            return Reply(STOP_CALLING_REPLY, end_call=True)
        if _NOT_INTERESTED.search(said):
            return Reply(NOT_INTERESTED_REPLY, end_call=True)
        if _GOODBYE.search(said):
            return Reply(FAREWELL, end_call=True)
        if self._next < len(self._script):
            line = self._script[self._next]
            self._next += 1
            return Reply(line)
        return Reply(ANYTHING_ELSE)

    async def on_silence(self, attempts: int) -> Reply:
        if attempts >= 2:
            return Reply(SILENT_FAREWELL, end_call=True)
        return Reply(STILL_THERE)
