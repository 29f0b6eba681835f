"""Who answers a sandbox call, chosen by the destination number.

Destinations of the form ``+1 NPA 555 01NN`` pick a behaviour by their last four digits;
every other number reaches the default talking person. All timings are in seconds of
simulated time (``VOXLINE_SANDBOX_TIME_SCALE`` shrinks them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

_BEHAVIOUR_NUMBER = re.compile(r"\+1[2-9]\d{2}555(01\d{2})")


class Behaviour(StrEnum):
    TALKER = "talker"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    NOT_IN_SERVICE = "not_in_service"
    HANGS_UP = "hangs_up"
    FILIBUSTER = "filibuster"
    SILENT = "silent"
    INTERRUPTER = "interrupter"


BEHAVIOURS: dict[str, Behaviour] = {
    "0100": Behaviour.TALKER,
    "0101": Behaviour.BUSY,
    "0102": Behaviour.NO_ANSWER,
    "0103": Behaviour.VOICEMAIL,
    "0104": Behaviour.NOT_IN_SERVICE,
    "0105": Behaviour.HANGS_UP,
    "0106": Behaviour.FILIBUSTER,
    "0107": Behaviour.SILENT,
    "0108": Behaviour.INTERRUPTER,
}

DESCRIPTIONS: dict[Behaviour, str] = {
    Behaviour.TALKER: "answers, talks, then says goodbye (completed)",
    Behaviour.BUSY: "the line is busy (busy)",
    Behaviour.NO_ANSWER: "rings until join_timeout (no_answer)",
    Behaviour.VOICEMAIL: "an answering machine with a greeting and a beep (voicemail)",
    Behaviour.NOT_IN_SERVICE: "number not in service (failed, context.last_error)",
    Behaviour.HANGS_UP: "answers and hangs up at once (completed, contact_hangup)",
    Behaviour.FILIBUSTER: "keeps talking past max_duration (completed, max_duration)",
    Behaviour.SILENT: "answers and stays silent (completed, agent_hangup)",
    Behaviour.INTERRUPTER: "talks over the agent (completed; the agent's cut turns are shortened)",
}


def behaviour_for(destination: str) -> Behaviour:
    match = _BEHAVIOUR_NUMBER.fullmatch(destination)
    if match is None:
        return Behaviour.TALKER
    return BEHAVIOURS.get(match.group(1), Behaviour.TALKER)


@dataclass(frozen=True, slots=True)
class Persona:
    """The scripted callee: how long the phone rings and what the person says."""

    behaviour: Behaviour
    ring_seconds: float
    lines: tuple[str, ...] = ()
    # Fraction of an agent utterance after which the callee starts talking over it.
    barge_in_at: float | None = None


_TALKER_LINES = (
    "Yes, speaking. What is this about?",
    "Okay, that sounds good to me.",
    "No, I think that covers it. Thanks, goodbye!",
)

_INTERRUPTER_LINES = (
    "Sorry, sorry, can I just ask who is calling?",
    "Right, right. Fine, that works.",
    "Okay, that's all, bye now!",
)

_FILIBUSTER_LINES = (
    "Oh hello! You know, I was just telling my neighbour about the weather this week, it has "
    "been the strangest autumn, first the rain and then all that sunshine.",
    "And the garden, well, the tomatoes did not like it one bit, and the roses are confused, "
    "blooming again in November if you can believe it.",
    "Then my cousin called about the family reunion, and we went through every single dish "
    "everyone is bringing, which took the better part of an hour.",
)

VOICEMAIL_GREETING = (
    "Hi, you have reached the voicemail of this number. I can't take your call right now. "
    "Please leave a message after the beep. *beep*"
)

NOT_IN_SERVICE_MESSAGE = "The number you have dialled is not in service"


def persona_for(destination: str) -> Persona:
    behaviour = behaviour_for(destination)
    if behaviour is Behaviour.BUSY:
        return Persona(behaviour, ring_seconds=2.0)
    if behaviour is Behaviour.NO_ANSWER:
        return Persona(behaviour, ring_seconds=float("inf"))
    if behaviour is Behaviour.VOICEMAIL:
        return Persona(behaviour, ring_seconds=6.0, lines=(VOICEMAIL_GREETING,))
    if behaviour is Behaviour.FILIBUSTER:
        return Persona(behaviour, ring_seconds=3.0, lines=_FILIBUSTER_LINES)
    if behaviour is Behaviour.INTERRUPTER:
        return Persona(behaviour, ring_seconds=3.0, lines=_INTERRUPTER_LINES, barge_in_at=0.4)
    if behaviour in (Behaviour.SILENT, Behaviour.HANGS_UP, Behaviour.NOT_IN_SERVICE):
        return Persona(behaviour, ring_seconds=3.0)
    return Persona(Behaviour.TALKER, ring_seconds=4.0, lines=_TALKER_LINES)


WORDS_PER_SECOND = 2.5


def speaking_seconds(text: str) -> float:
    """How long saying ``text`` takes at a conversational pace."""
    return max(0.6, len(text.split()) / WORDS_PER_SECOND)
