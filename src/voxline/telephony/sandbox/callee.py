"""The simulated callee's side of a connected sandbox call."""

from __future__ import annotations

import asyncio
import dataclasses

from voxline.telephony.sandbox.line import Keypress, LineClosed, TextLine
from voxline.telephony.sandbox.personas import (
    IVR_DEPARTMENTS,
    IVR_GOODBYE,
    IVR_INVALID,
    IVR_KEY_WAIT_SECONDS,
    IVR_MENU,
    IVR_MENUS_WITHOUT_KEY,
    Behaviour,
    Persona,
    spoken,
)

THINKING_SECONDS = 0.5
FAREWELL_WAIT_SECONDS = 8.0
# Real seconds the callee gives the agent to answer its goodbye and to hang up, whatever the
# time scale: the agent's reply and hang-up involve real work (a brain, database writes)
# that the scale does not shrink, so a loaded machine must not turn them into a contact
# hang-up.
MIN_REAL_WAIT_SECONDS = 2.0
BARGE_IN_MIN_WORDS = 6


async def play_callee(persona: Persona, line: TextLine) -> None:
    """Act out ``persona`` until it hangs up or the line closes."""
    try:
        if persona.behaviour is Behaviour.HANGS_UP:
            await line.pause(0.5)
            line.hangup("contact")
        elif persona.behaviour is Behaviour.SILENT:
            await line.wait_closed()
        elif persona.behaviour is Behaviour.FILIBUSTER:
            await _filibuster(persona, line)
        elif persona.behaviour is Behaviour.IVR:
            await _phone_menu(persona, line)
        else:
            await _converse(persona, line)
    except LineClosed:
        return


async def _converse(persona: Persona, line: TextLine) -> None:
    for reply in persona.lines:
        utterance = await line.next_agent_utterance()
        long_enough = len(utterance.text.split()) >= BARGE_IN_MIN_WORDS
        if persona.barge_in_at is not None and long_enough:
            await line.pause(utterance.seconds * persona.barge_in_at / line.time_scale)
            line.interrupt()
        else:
            await utterance.finished
            await line.pause(THINKING_SECONDS)
        await line.speak(spoken(reply))
    if persona.hangs_up_after_lines:
        await line.pause(THINKING_SECONDS)
        line.hangup("contact")
        return
    # Said goodbye: let the agent answer and hang up, else hang up after a moment.
    try:
        utterance = await asyncio.wait_for(
            line.next_agent_utterance(), _real_wait(FAREWELL_WAIT_SECONDS, line)
        )
        await utterance.finished
        await asyncio.wait_for(line.wait_closed(), _real_wait(THINKING_SECONDS, line))
        return
    except TimeoutError:
        pass
    line.hangup("contact")


def _real_wait(seconds: float, line: TextLine) -> float:
    return max(seconds * line.time_scale, MIN_REAL_WAIT_SECONDS)


async def _phone_menu(persona: Persona, line: TextLine) -> None:
    """Play the menu until a known key leads to a department (words are not heard)."""
    unanswered = 0
    while True:
        await line.speak(IVR_MENU)
        key = await _next_key(line, _real_wait(IVR_KEY_WAIT_SECONDS, line))
        if key is None:
            unanswered += 1
            if unanswered < IVR_MENUS_WITHOUT_KEY:
                continue
            await line.speak(IVR_GOODBYE)
            line.hangup("contact")
            return
        department = IVR_DEPARTMENTS.get(key)
        if department is None:
            await line.speak(IVR_INVALID)
            continue
        await line.speak(department.greeting)
        await _converse(dataclasses.replace(persona, lines=department.lines), line)
        return


async def _next_key(line: TextLine, wait_seconds: float) -> str | None:
    """The next key the agent presses within ``wait_seconds`` (real), skipping its words."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while (left := deadline - loop.time()) > 0:
        item = await line.next_from_agent(left)
        if isinstance(item, Keypress):
            return item.key
    return None


async def _filibuster(persona: Persona, line: TextLine) -> None:
    index = 0
    while True:
        await line.speak(persona.lines[index % len(persona.lines)])
        await line.pause(0.3)
        index += 1
