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
    IVR = "ivr"
    WANTS_PERSON = "wants_person"
    UNREACHABLE = "unreachable"
    STOP_CALLING = "stop_calling"
    PAUSER = "pauser"
    DIGITS = "digits"
    STOPPER = "stopper"
    BACKCHANNELER = "backchanneler"
    ECHOING = "echoing"


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
    "0109": Behaviour.IVR,
    "0110": Behaviour.WANTS_PERSON,
    "0111": Behaviour.UNREACHABLE,
    "0112": Behaviour.STOP_CALLING,
    "0113": Behaviour.PAUSER,
    "0114": Behaviour.DIGITS,
    # Barge-in regression callers, at the end of the range.
    "0117": Behaviour.STOPPER,
    "0118": Behaviour.BACKCHANNELER,
    "0119": Behaviour.ECHOING,
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
    Behaviour.IVR: "a phone menu: press 1 for appointments, 2 for billing (keys only)",
    Behaviour.WANTS_PERSON: "asks for a real person, then gives up and hangs up (contact_hangup)",
    Behaviour.UNREACHABLE: "never answers; a transfer there fails (as 0102 when dialed)",
    Behaviour.STOP_CALLING: "asks not to be called again (completed, agent_hangup)",
    Behaviour.PAUSER: "pauses mid-sentence (0.6-0.9 s) before finishing; a turn-taking test",
    Behaviour.DIGITS: "reads a phone number out slowly, in groups with pauses",
    Behaviour.STOPPER: 'cuts the agent short with "wait, stop" (completed; turns are cut)',
    Behaviour.BACKCHANNELER: (
        'says "uh-huh", "okay", "mm-hmm" while the agent talks (audio; turns are not cut)'
    ),
    Behaviour.ECHOING: (
        "a talker whose line echoes the agent's voice back, 120 ms late at -15 dB (audio)"
    ),
}

# Transfers to these fail: nobody would pick up.
UNREACHABLE_BEHAVIOURS = frozenset(
    {Behaviour.BUSY, Behaviour.NO_ANSWER, Behaviour.NOT_IN_SERVICE, Behaviour.UNREACHABLE}
)


def behaviour_for(destination: str) -> Behaviour:
    match = _BEHAVIOUR_NUMBER.fullmatch(destination)
    if match is None:
        return Behaviour.TALKER
    return BEHAVIOURS.get(match.group(1), Behaviour.TALKER)


@dataclass(frozen=True, slots=True)
class LineEcho:
    """A line that returns the agent's own voice to it: ``delay_ms`` late, ``gain_db``
    quieter, slightly muffled (a carrier hybrid or a handset without echo cancelling)."""

    delay_ms: float = 120.0
    gain_db: float = -15.0


@dataclass(frozen=True, slots=True)
class Persona:
    """The scripted callee: how long the phone rings and what the person says."""

    behaviour: Behaviour
    ring_seconds: float
    lines: tuple[str, ...] = ()
    # Fraction of an agent utterance after which the callee starts talking over it.
    barge_in_at: float | None = None
    # Hang up right after the last line instead of waiting for the agent's goodbye.
    hangs_up_after_lines: bool = False
    # Seconds of silence at each PAUSE mark of a line (audio mode; text mode says it whole).
    pauses: tuple[float, ...] = ()
    # Said over the agent's turns, one per turn in turn (audio lines only).
    backchannels: tuple[str, ...] = ()
    # The line echoes the agent's voice back to it (audio lines only).
    echo: LineEcho | None = None


# Where a line's speaker pauses (see :func:`line_parts`).
PAUSE = " | "


def line_parts(line: str) -> list[str]:
    """The stretches of ``line`` said without a pause."""
    return [part.strip() for part in line.split(PAUSE.strip()) if part.strip()]


def spoken(line: str) -> str:
    """``line`` as words, without its pause marks."""
    return " ".join(line_parts(line))


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

_STOPPER_LINES = (
    "Wait, stop. Who is this?",
    "No, hold on. Which day did you say?",
)

BACKCHANNEL_WORDS = ("Uh-huh.", "Okay.", "Mm-hmm.")

_ECHOING_LINES = (
    "Yes, speaking. What is this about?",
    "No, that covers it. Thanks, goodbye!",
)

_FILIBUSTER_LINES = (
    "Oh hello! You know, I was just telling my neighbour about the weather this week, it has "
    "been the strangest autumn, first the rain and then all that sunshine.",
    "And the garden, well, the tomatoes did not like it one bit, and the roses are confused, "
    "blooming again in November if you can believe it.",
    "Then my cousin called about the family reunion, and we went through every single dish "
    "everyone is bringing, which took the better part of an hour.",
)

_PAUSER_LINES = (
    "Yes, speaking. I was wondering if | you could tell me what this is about?",
    "Okay, but could we move it to | next Monday instead?",
    "That works for me, but I need to | check my calendar. Thanks, goodbye!",
)
_PAUSER_PAUSES = (0.6, 0.9, 0.75)

_DIGITS_LINES = (
    "Sure, it is | four one five | five five five | zero one nine eight.",
    "Yes, | that's right. Thanks, goodbye!",
)
_DIGITS_PAUSES = (0.8, 0.9, 0.7, 0.6)

_WANTS_PERSON_LINES = (
    "Hi. Can I speak to a real person, please?",
    "I really need to talk to a human.",
    "Never mind, I will call back later. Goodbye.",
)


_STOP_CALLING_LINES = (
    "Hello? Who is this?",
    "Please stop calling me. Take me off your list.",
)


@dataclass(frozen=True, slots=True)
class Department:
    """Where a key of the phone menu leads: its greeting, then a talker's lines."""

    greeting: str
    lines: tuple[str, ...]


IVR_MENU = "Thank you for calling Acme Health. For appointments, press 1. For billing, press 2."
IVR_INVALID = "Sorry, that is not a valid option."
IVR_GOODBYE = "Goodbye."
# Simulated seconds the menu waits for a key, and how many silent menus it plays.
IVR_KEY_WAIT_SECONDS = 8.0
IVR_MENUS_WITHOUT_KEY = 2
IVR_DEPARTMENTS: dict[str, Department] = {
    "1": Department(
        "You have reached appointments. How can I help you?",
        (
            "I'd like to book a check-up next week.",
            "Tuesday morning works for me.",
            "Perfect, thank you. Goodbye!",
        ),
    ),
    "2": Department(
        "You have reached billing. How can I help you?",
        (
            "I have a question about my last invoice.",
            "Okay, that makes sense now.",
            "Thanks for your help. Goodbye!",
        ),
    ),
}

# A transfer's destination answers as a person; (speaker, line) with the caller in turn.
TRANSFER_SCRIPT: tuple[tuple[str, str], ...] = (
    ("destination", "Hi, this is Sam at the front desk. How can I help?"),
    ("contact", "Hi Sam. I was told you could help me with my booking."),
    ("destination", "Of course, I have it right here. It is all sorted now."),
    ("contact", "Great, thank you. Goodbye!"),
    ("destination", "Goodbye!"),
)

VOICEMAIL_PROMPT = (
    "Hi, you have reached the voicemail of this number. I can't take your call right now. "
    "Please leave a message after the beep."
)
BEEP_TEXT = "*beep*"
VOICEMAIL_GREETING = f"{VOICEMAIL_PROMPT} {BEEP_TEXT}"

NOT_IN_SERVICE_MESSAGE = "The number you have dialled is not in service"


def persona_for(destination: str) -> Persona:
    behaviour = behaviour_for(destination)
    if behaviour is Behaviour.BUSY:
        return Persona(behaviour, ring_seconds=2.0)
    if behaviour in (Behaviour.NO_ANSWER, Behaviour.UNREACHABLE):
        return Persona(behaviour, ring_seconds=float("inf"))
    if behaviour is Behaviour.IVR:
        return Persona(behaviour, ring_seconds=2.0, lines=(IVR_MENU,))
    if behaviour is Behaviour.WANTS_PERSON:
        return Persona(
            behaviour, ring_seconds=3.0, lines=_WANTS_PERSON_LINES, hangs_up_after_lines=True
        )
    if behaviour is Behaviour.STOP_CALLING:
        return Persona(behaviour, ring_seconds=3.0, lines=_STOP_CALLING_LINES)
    if behaviour is Behaviour.VOICEMAIL:
        return Persona(behaviour, ring_seconds=6.0, lines=(VOICEMAIL_GREETING,))
    if behaviour is Behaviour.FILIBUSTER:
        return Persona(behaviour, ring_seconds=3.0, lines=_FILIBUSTER_LINES)
    if behaviour is Behaviour.PAUSER:
        return Persona(behaviour, ring_seconds=3.0, lines=_PAUSER_LINES, pauses=_PAUSER_PAUSES)
    if behaviour is Behaviour.DIGITS:
        return Persona(behaviour, ring_seconds=3.0, lines=_DIGITS_LINES, pauses=_DIGITS_PAUSES)
    if behaviour is Behaviour.INTERRUPTER:
        return Persona(behaviour, ring_seconds=3.0, lines=_INTERRUPTER_LINES, barge_in_at=0.4)
    if behaviour is Behaviour.STOPPER:
        return Persona(behaviour, ring_seconds=3.0, lines=_STOPPER_LINES, barge_in_at=0.4)
    if behaviour is Behaviour.BACKCHANNELER:
        return Persona(
            behaviour, ring_seconds=3.0, lines=_TALKER_LINES, backchannels=BACKCHANNEL_WORDS
        )
    if behaviour is Behaviour.ECHOING:
        return Persona(behaviour, ring_seconds=3.0, lines=_ECHOING_LINES, echo=LineEcho())
    if behaviour in (Behaviour.SILENT, Behaviour.HANGS_UP, Behaviour.NOT_IN_SERVICE):
        return Persona(behaviour, ring_seconds=3.0)
    return Persona(Behaviour.TALKER, ring_seconds=4.0, lines=_TALKER_LINES)


def takes_transfers(destination: str) -> bool:
    """Whether someone picks up a call handed on to ``destination``."""
    return behaviour_for(destination) not in UNREACHABLE_BEHAVIOURS


WORDS_PER_SECOND = 2.5


def speaking_seconds(text: str) -> float:
    """How long saying ``text`` takes at a conversational pace."""
    return max(0.6, len(text.split()) / WORDS_PER_SECOND)


# The personas that can be the caller of a sandbox inbound call (``call-in``): the ones who
# talk once connected. A busy line, a machine or a number not in service only answer calls.
CALLER_BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour.TALKER,
    Behaviour.HANGS_UP,
    Behaviour.FILIBUSTER,
    Behaviour.SILENT,
    Behaviour.INTERRUPTER,
    Behaviour.WANTS_PERSON,
    Behaviour.STOP_CALLING,
    Behaviour.PAUSER,
    Behaviour.DIGITS,
    Behaviour.STOPPER,
    Behaviour.BACKCHANNELER,
    Behaviour.ECHOING,
)
DEFAULT_CALLER = Behaviour.TALKER


def caller_persona(name: str) -> Persona | None:
    """The persona named ``name`` (a behaviour's value, e.g. ``talker``) as a caller; None
    when there is no such persona or it cannot call (see :data:`CALLER_BEHAVIOURS`)."""
    behaviour = next((b for b in CALLER_BEHAVIOURS if b.value == name), None)
    return None if behaviour is None else persona_for(caller_number(behaviour))


def caller_number(behaviour: Behaviour, area_code: str = "415") -> str:
    """The sandbox number ``behaviour`` answers on (``+1 NPA 555 01NN``), which it also calls
    from."""
    suffix = next(digits for digits, b in BEHAVIOURS.items() if b is behaviour)
    return f"+1{area_code}555{suffix}"
