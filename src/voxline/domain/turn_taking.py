"""When the contact's turn is over: how long to wait after the contact goes quiet.

The VAD stops after a short silence; an end-of-turn model then says how likely the contact
has finished (``probability``). :class:`TurnPolicy` turns that into an extra wait: none when
the model is sure, up to a second when it thinks the contact is mid-sentence. A
contact who was just asked for digits, an e-mail address or a postal address reads it out
in pieces with pauses, so then the wait is never shorter than ``collecting_wait_ms``.

The model reads prosody only, and not every voice gives it a reliable cue; the words do.
:func:`sounds_unfinished` says when a transcript stops where an English sentence cannot
end (on "and", "to", "the", "um", ...): such a turn is then held ``unfinished_wait_ms``
after the stop, whatever the model said. The words judge the other way too: a transcript
that ends a sentence (:class:`Said`, :attr:`Verdict.FINISHED`) caps the model's wait at
``finished_wait_ms``; words that say neither (a bare "Yes.", often the start of "Yes,
that's right") hold the turn at least ``unsure_wait_ms``. When the agent asked for something
read out in pieces, only a whole answer (a phone number's ten digits, :func:`gives_whole`)
ends the collecting wait early.

Speech-to-text may finish a sentence cut short with words never said ("could we move it to"
comes out "... move it to next?"): :func:`heard_words` keeps only the words a speech-to-text
with word timings places inside the speech, so that both judgments see where it really stopped.

Pure rules (stdlib only); the model and the waiting live in ``voxline.voice.end_of_turn``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
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


class Verdict(StrEnum):
    """What a turn's words say of its end (speech-to-text gave words to judge)."""

    FINISHED = "finished"
    UNFINISHED = "unfinished"
    UNSURE = "unsure"


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """How long to wait after a VAD stop before the agent answers.

    ``no_model_wait_ms`` applies when there is no end-of-turn model (or it failed); by
    default none, the VAD's own hang-over being then the whole end-of-turn wait.
    ``unfinished_wait_ms`` is how long after the VAD stop a turn whose transcript
    :func:`sounds_unfinished` is held at least, for the contact to go on: longer than a
    pause inside a sentence (0.5-0.9 s), counted from the stop, which came after ~200 ms of
    silence already. ``finished_wait_ms`` is the longest wait after the stop for a turn
    whose words end a sentence (:attr:`Verdict.FINISHED`), whatever the model said: the
    model reads prosody only, and scores synthesized or flat voices' finished sentences
    low, which would make nearly every turn wait its longest. ``unsure_wait_ms`` is the
    least wait for a turn whose words say neither (:attr:`Verdict.UNSURE`: "Yes.",
    "Okay.", a transcript without a final stop): the model scores such a pause finished as
    often as not on the sandbox's voice (0.95-0.98 for "Yes," before "that's right"); with
    the stop ~300 ms into the quiet it covers pauses up to ~0.9 s. ``least_wait_ms`` is the
    shortest wait after the stop when there is a model, however sure it is and whatever the
    words: one speaker's pauses between clauses and sentences run to ~350 ms (measured on
    the sandbox's voice, "That works for me, | but ..."), the stop comes ~300 ms into the
    quiet, and the VAD knows the contact went on only ~130 ms after they did (three voiced
    windows, then the start).
    """

    curve: WaitCurve = WaitCurve()
    collecting_wait_ms: float = 1200.0
    no_model_wait_ms: float = 0.0
    unfinished_wait_ms: float = 1100.0
    finished_wait_ms: float = 250.0
    unsure_wait_ms: float = 700.0
    least_wait_ms: float = 250.0

    def extra_wait_ms(
        self,
        probability: float | None,
        asked: Asked = Asked.NOTHING,
        verdict: Verdict | None = None,
    ) -> float:
        """The wait after the VAD stop: the model's, never shorter than the collecting wait
        when something was asked for (unless the words give a whole answer); capped at
        ``finished_wait_ms`` when the words end a sentence, at least ``unfinished_wait_ms``
        when they stop mid-way and ``unsure_wait_ms`` when they say neither. ``verdict``
        None: no words to judge (no speech-to-text, or its words came too late)."""
        if probability is None:
            wait = self.no_model_wait_ms
        else:
            wait = max(self.least_wait_ms, self.curve.wait_ms(probability))
        if verdict is Verdict.FINISHED:
            return min(wait, max(self.least_wait_ms, self.finished_wait_ms))
        if asked is not Asked.NOTHING:
            return max(wait, self.collecting_wait_ms)
        if verdict is Verdict.UNFINISHED:
            return max(wait, self.unfinished_wait_ms)
        if verdict is Verdict.UNSURE:
            return max(wait, self.unsure_wait_ms)
        return wait


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words a sentence does not end on. Each set leaves out the words of its class that often do
# end one ("this" and "that" are pronouns too, "on" and "in" are particles in "hold on",
# "come in"), so a finished turn is rarely held: a wrong hold costs the caller a second.
_CONJUNCTIONS = _words(
    "and but or nor because cause cuz if unless although whereas whether than until"
)
_PREPOSITIONS = _words("to of for at with from about into onto among between toward towards")
_DETERMINERS = _words("a an the my your our their its every")
_FILLERS = _words("um umm uh uhh uhm er erm")
# A pronoun with a contracted verb needs what follows ("Yes, it is." but not "Yes, it's.").
_CONTRACTIONS = _words(
    "i'm you're we're they're it's that's there's here's he's she's what's who's where's "
    "let's i'll you'll we'll they'll i'd you'd we'd they'd i've you've we've they've"
)
# A finite "be" ends a sentence after a pronoun ("Yes, it is.", "That is.", "Here you are.")
# but not after a noun ("My number is", "The best time would be").
_COPULAS = _words("is was are were am")
_PRONOUNS = _words("i you he she it we they this that these those there here who what which so")
# "so" and "that" end sentences ("I think so.", "I like that."), except after words that
# make them conjunctions ("..., so", "I think that", "so that", "The problem is that").
_THAT_AS_CONJUNCTION = _words(
    "think thought believe guess hope so such fact sure feel wish assume suppose realize realise"
)
_SO_AS_CONJUNCTION = _words("and but")
_COMMA_SO = re.compile(r",\s*so\W*$")
# Verbs after which a bare "to" is an infinitive left out because it was just said ("Would
# you like to come? I'd like to."): such an answer is short.
_ELLIPSIS_VERBS = _words(
    "like love want wants wanted need needs needed have has had ought going got try tried "
    "mean meant hope hoped plan planned prefer used supposed able allowed happy glad"
)
_ELLIPSIS_WORDS_MAX = 5
_INTERJECTIONS = _words("yes yeah yep no nope well okay ok oh sure sorry")
# A question word before a stranded preposition: "What is it for?", "Who is it from?",
# "When is the appointment for?".
_WH_WORDS = _words("what who whom which where whose when how what's who's where's")
_TRAILING_OFF = re.compile("(,|;|:|-|\u2013|\u2014|\\.\\.\\.|\u2026)\\s*$")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def sounds_unfinished(text: str) -> bool:
    """Whether a transcript stops where an English sentence cannot end: on a conjunction
    ("and", "because", "if"), a preposition without its object ("to", "for", "of"), an
    article or possessive ("the", "my"), a filler ("um"), a pronoun with a contracted verb
    ("I'm"), a verb "be" after a noun ("My number is"), or a trailing comma, dash or
    ellipsis.

    Conservative: a word that may end a sentence is not taken as unfinished — a stranded
    preposition after a question word ("What is it for?"), a short answer leaving out an
    infinitive ("I'd like to."), a "be" after a pronoun ("Yes, that is."), "so" and "that"
    as pronouns ("I think so.", "I like that."). Speech-to-text puts a full stop on nearly
    every fragment, so final punctuation is not taken to mean the sentence is finished.
    """
    text = text.strip()
    if not text:
        return False
    if _TRAILING_OFF.search(text):
        return True
    sentence = _SENTENCE_END.split(text)[-1].lower().replace("\u2019", "'")
    words = _WORD.findall(sentence)
    if not words:
        return False
    last = words[-1]
    before = words[-2] if len(words) > 1 else ""
    if last in _CONJUNCTIONS:
        return not (last == "if" and before in ("what", "as"))
    if last in _DETERMINERS or last in _FILLERS or last in _CONTRACTIONS:
        return True
    if last in _PREPOSITIONS:
        if any(word in _WH_WORDS for word in words[:-1]):
            return False  # a question or relative clause strands its preposition
        if last == "to" and before in _ELLIPSIS_VERBS:
            content = [w for w in words if w not in _INTERJECTIONS]
            return len(content) > _ELLIPSIS_WORDS_MAX
        return True
    if last in _COPULAS:
        return bool(before) and before not in _PRONOUNS
    if last == "that":
        if before in _COPULAS:  # "The problem is that", but "What is that?"
            return len(words) > 2 and words[-3] not in _PRONOUNS
        return before in _THAT_AS_CONJUNCTION
    if last == "so":
        alone = len(words) == 1 and not sentence.endswith("?")  # "So..." but not "So?"
        return before in _SO_AS_CONJUNCTION or alone or bool(_COMMA_SO.search(sentence))
    return False


@dataclass(frozen=True, slots=True)
class TimedWord:
    """One word of a transcript, as speech-to-text placed it (seconds into the audio)."""

    text: str
    start: float
    end: float
    probability: float


# Whisper's word timings come in 20 ms steps: a word starting less than this before the
# speech ends was not heard, only guessed ("... move it to next?" on a cut after "to": on the
# sandbox's voice such a word starts 20-40 ms before the end, a last word said 50 ms or more).
_HEARD_MARGIN_S = 0.05
# Over a phone line the two come closer (guessed 30-50 ms, said 50-70 ms before the end), but
# a guess is improbable: "next?" scored 0.49-0.63 where a last word said scored 0.84-1.00
# ("me.", "about?", "Goodbye."). A trailing word this close to the end and this improbable
# is a guess too. A said word dropped costs a longer wait, never a cut-in.
_GUESS_REACH_S = 0.12
_GUESS_PROBABILITY = 0.75


def heard_words(words: Sequence[TimedWord], speech_end_s: float) -> tuple[TimedWord, ...]:
    """``words`` without the trailing ones that start too late in the speech (which ends at
    ``speech_end_s``) to have been said: less than 50 ms before its end, or less than 120 ms
    before it and improbable."""
    kept = list(words)
    while kept and _guessed(kept[-1], speech_end_s):
        kept.pop()
    return tuple(kept)


def _guessed(word: TimedWord, speech_end_s: float) -> bool:
    if word.start > speech_end_s - _HEARD_MARGIN_S:
        return True
    return word.start > speech_end_s - _GUESS_REACH_S and word.probability < _GUESS_PROBABILITY


_FINAL_STOP = re.compile(r"[.!?]\W*$")
# A farewell ends a turn, punctuated or not (speech-to-text sometimes writes a whole turn
# without a mark: "that works for me but i need to check my calendar thanks goodbye").
_FAREWELL = re.compile(r"\b(?:good-?)?bye(?:[- ]bye)?\W*$")


def sounds_finished(text: str) -> bool:
    """Whether a transcript ends a sentence: a full stop, question or exclamation mark
    after a word that may end one, and more than an interjection ("Yes." is as often the
    start of "Yes, that's right" as a whole answer); or a farewell ("... thanks goodbye")."""
    text = text.strip()
    if _FAREWELL.search(text.lower()):
        return True
    if not _FINAL_STOP.search(text) or sounds_unfinished(text):
        return False
    words = _WORD.findall(text.lower().replace("\u2019", "'"))
    return any(word not in _INTERJECTIONS for word in words)


_DIGIT_WORDS = "zero|oh|one|two|three|four|five|six|seven|eight|nine"
# A digit, or "for" written for "four" before one ("it is for one five ...": speech-to-text
# often hears a slowly read "four" after "is" as "for").
_DIGIT = re.compile(rf"\d|\b(?:{_DIGIT_WORDS})\b|\bfor\b(?=[\s,.-]*(?:\d|(?:{_DIGIT_WORDS})\b))")
# The text stops on a digit (the number it reads out is where it ends).
_ENDS_ON_DIGIT = re.compile(rf"(?:\d|\b(?:{_DIGIT_WORDS}))\W*$")
# A phone number read out whole: ten digits (a North American number with its area code).
_WHOLE_NUMBER_DIGITS = 10


def digits_in(text: str) -> int:
    """How many digits ``text`` reads out, as figures or words ("415", "four one five")."""
    return len(_DIGIT.findall(text.lower()))


def gives_whole(asked: Asked, text: str) -> bool:
    """Whether ``text`` already gives all of what was asked for: a phone number's ten digits
    when digits were asked for, the text ending as a sentence or on the number (a number read
    out slowly is often written without a final stop). Shorter codes (a zip code, a PIN, a
    date) and e-mail or postal addresses have no length to tell they are whole."""
    text = text.strip().lower()
    if asked is not Asked.DIGITS or not (_FINAL_STOP.search(text) or _ENDS_ON_DIGIT.search(text)):
        return False
    return digits_in(text) >= _WHOLE_NUMBER_DIGITS


@dataclass(frozen=True, slots=True)
class Said:
    """A turn's transcript so far, and (``heard``) what of it is inside the speech when
    speech-to-text timed its words; None when it did not."""

    text: str
    heard: str | None = None

    def verdict(self, asked: Asked = Asked.NOTHING) -> Verdict:
        """Unfinished when either text stops mid-sentence (the whole one may trail off
        with "..." on a word guessed after the cut); finished when the words heard end a
        sentence; unsure otherwise (a guessed word dropped leaves no final stop). When
        something was asked for, finished only when the words heard give all of it."""
        heard = self.text if self.heard is None else self.heard
        if asked is not Asked.NOTHING:
            return Verdict.FINISHED if gives_whole(asked, heard) else Verdict.UNSURE
        if sounds_unfinished(self.text) or sounds_unfinished(heard):
            return Verdict.UNFINISHED
        if sounds_finished(heard):
            return Verdict.FINISHED
        return Verdict.UNSURE
