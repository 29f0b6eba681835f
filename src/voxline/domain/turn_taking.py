"""When the contact's turn is over: how long to wait after the contact goes quiet.

The VAD stops after a short silence; an end-of-turn model then says how likely the contact
has finished (``probability``). :class:`TurnPolicy` turns that into an extra wait: none when
the model is sure, up to a second when it thinks the contact is mid-sentence. A
contact who was just asked for digits, an e-mail address or a postal address reads it out
in pieces with pauses, so then the wait is never shorter than ``collecting_wait_ms``.

Pure rules (stdlib only); the model and the waiting live in ``voxline.voice.end_of_turn``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import StrEnum


class Asked(StrEnum):
    """What the agent's last sentence asked the contact to give."""

    NOTHING = "nothing"
    DIGITS = "digits"
    EMAIL = "email"
    ADDRESS = "address"


_ASKS: tuple[tuple[Asked, re.Pattern[str]], ...] = (
    (Asked.EMAIL, re.compile(r"\be-?mail\b")),
    (
        Asked.DIGITS,
        re.compile(
            r"\b(phone number|number|digits?|zip code|zip|postcode|postal code|code|pin|"
            r"date of birth)\b"
        ),
    ),
    (Asked.ADDRESS, re.compile(r"\b(address|street)\b|\bwhere do you live\b")),
)
# Words that ask the contact to give something ("Is that a mobile number?" only checks it).
_ASKING = re.compile(r"\b(what|what's|which|tell|give|read|say|spell|provide|share|enter)\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def asked_for(agent_text: str) -> Asked:
    """What the last sentence of ``agent_text`` asks the contact to give; a sentence that
    only mentions one ("bring your insurance card", "Is that a mobile number?") asks
    nothing."""
    parts = [p for p in _SENTENCE_END.split(agent_text.strip()) if p]
    if not parts:
        return Asked.NOTHING
    last = parts[-1].lower()
    if not _ASKING.search(last):
        return Asked.NOTHING
    for asked, pattern in _ASKS:
        if pattern.search(last):
            return asked
    return Asked.NOTHING


@dataclass(frozen=True, slots=True)
class WaitCurve:
    """Extra wait (ms) by end-of-turn probability, linear between ``points`` (probability,
    wait), flat beyond the first and last point. Points must rise in probability."""

    # Tuned on the sandbox's callers (bench/README.md): a pause inside a sentence scores
    # 0.01-0.3 and lasts up to 0.9 s, so 1 s at 0.2 and below covers it after the VAD's
    # 200 ms stop; finished sentences of synthesized speech often score 0.3-0.6 too, which is
    # why the wait is not longer.
    points: tuple[tuple[float, float], ...] = (
        (0.2, 1000.0),
        (0.5, 500.0),
        (0.8, 0.0),
    )

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a wait curve needs at least one point")
        probabilities = [p for p, _ in self.points]
        if probabilities != sorted(probabilities) or len(set(probabilities)) != len(probabilities):
            raise ValueError("wait curve points must rise in probability")
        if any(w < 0 for _, w in self.points) or not all(0 <= p <= 1 for p in probabilities):
            raise ValueError("probabilities are in [0, 1] and waits are not negative")

    def wait_ms(self, probability: float) -> float:
        points = self.points
        if probability <= points[0][0]:
            return points[0][1]
        for (p0, w0), (p1, w1) in itertools.pairwise(points):
            if probability <= p1:
                return w0 + (w1 - w0) * (probability - p0) / (p1 - p0)
        return points[-1][1]


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """How long to wait after a VAD stop before the agent answers.

    ``no_model_wait_ms`` applies when there is no end-of-turn model (or it failed); by
    default none, the VAD's own hang-over being then the whole end-of-turn wait.
    """

    curve: WaitCurve = WaitCurve()
    collecting_wait_ms: float = 1200.0
    no_model_wait_ms: float = 0.0

    def extra_wait_ms(self, probability: float | None, asked: Asked = Asked.NOTHING) -> float:
        wait = self.no_model_wait_ms if probability is None else self.curve.wait_ms(probability)
        if asked is not Asked.NOTHING:
            wait = max(wait, self.collecting_wait_ms)
        return wait
