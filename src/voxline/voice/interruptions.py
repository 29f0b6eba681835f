"""When the contact talking over the agent is a real interruption: the barge-in policy.

Pure rules (stdlib only), applied by :mod:`voxline.voice.barge_in` while the agent plays:

- Speech shorter than :attr:`BargeInPolicy.min_speech_ms` is not judged yet (a click, a
  cough, the start of a word).
- Once transcribed, an utterance whose words are all backchannels ("uh-huh", "okay",
  "thank you", "mm-hmm", ... see :data:`BACKCHANNELS`), or that has no words at all (noise,
  breathing, a television), does not stop the agent; anything else does ("wait", "no, I
  said Friday", "okay but I'm busy"). Backchannels count only when they make up the whole
  utterance, in any case and punctuation.
- On a line known to echo the agent's voice, words that merely repeat what the agent has
  just said are its echo, not the contact (:func:`is_echo_of`).

Decision: the whole-utterance rule rather than "starts with a backchannel". "Okay, but I'm
busy" begins like an acknowledgement and is an objection; judging the whole utterance costs
a second look once more words are heard, which :mod:`voxline.voice.barge_in` pays by
holding (not cutting) the agent's speech meanwhile.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from enum import StrEnum

# Phrases that acknowledge without taking the turn (English), written as normalised words.
BACKCHANNELS: frozenset[str] = frozenset(
    {
        "uh huh",
        "uh hu",
        "uhuh",
        "mm hmm",
        "mm hm",
        "mhm",
        "mmhmm",
        "hmm",
        "mm",
        "mmm",
        "hm",
        "um",
        "uh",
        "ah",
        "oh",
        "aha",
        "yeah",
        "yea",
        "yep",
        "yup",
        "yes",
        "ok",
        "okay",
        "okey",
        "right",
        "alright",
        "all right",
        "sure",
        "fine",
        "i see",
        "got it",
        "gotcha",
        "cool",
        "great",
        "good",
        "nice",
        "perfect",
        "exactly",
        "indeed",
        "of course",
        "true",
        "thank you",
        "thanks",
        "thank you very much",
        "thanks a lot",
        "sounds good",
        "makes sense",
        "that's right",
        "that's fine",
        "i know",
        "sure thing",
        "absolutely",
        "definitely",
        "wow",
    }
)
_LONGEST = max(len(phrase.split()) for phrase in BACKCHANNELS)
_NOT_A_WORD = re.compile(r"[^a-z0-9' ]+")


def words_of(text: str) -> list[str]:
    """Lower-case words without punctuation; hyphens split words ("uh-huh" -> uh, huh)."""
    text = text.lower().replace("-", " ").replace("\u2019", "'")
    return _NOT_A_WORD.sub(" ", text).split()


def is_backchannel(text: str) -> bool:
    """Whether ``text`` is made of backchannel phrases only (at least one word)."""
    tokens = words_of(text)
    if not tokens:
        return False
    # Can tokens[i:] be split into backchannel phrases? (dynamic programming from the end)
    ok = [False] * (len(tokens) + 1)
    ok[len(tokens)] = True
    for i in range(len(tokens) - 1, -1, -1):
        ok[i] = any(
            ok[i + n] and " ".join(tokens[i : i + n]) in BACKCHANNELS
            for n in range(1, min(_LONGEST, len(tokens) - i) + 1)
        )
    return ok[0]


def is_echo_of(heard: str, agent_said: str) -> bool:
    """Whether the words ``heard`` are the agent's own recent words (``agent_said``) coming
    back: every heard word was said by the agent, and two or more of them in a row match
    (a one-word echo is indistinguishable from a contact's "right")."""
    heard_words = words_of(heard)
    said = words_of(agent_said)
    if len(heard_words) < 2 or not said:
        return False
    if any(word not in said for word in heard_words):
        return False
    pairs = set(itertools.pairwise(said))
    return any(pair in pairs for pair in itertools.pairwise(heard_words))


class Verdict(StrEnum):
    """What to do about the contact's speech during the agent's playback."""

    UNDECIDED = "undecided"  # keep holding: not long enough, or not transcribed yet
    INTERRUPT = "interrupt"  # a real barge-in: stop the agent's turn
    BACKCHANNEL = "backchannel"  # an acknowledgement: the agent goes on
    NOISE = "noise"  # no words: the agent goes on
    ECHO = "echo"  # the agent's own words coming back: the agent goes on


@dataclass(frozen=True, slots=True)
class BargeInPolicy:
    """The thresholds of the rules in this module's docstring.

    ``min_speech_ms``: speech heard for less than this is not judged (it may still be a
    click or the start of a backchannel). ``long_speech_ms``: voiced speech this long is an
    interruption even before its words are known (backchannels are short).
    ``max_hold_ms``: the longest the agent holds its speech for speech that is not (yet)
    an interruption.
    """

    min_speech_ms: float = 300.0
    long_speech_ms: float = 1200.0
    max_hold_ms: float = 1500.0

    def judge(
        self,
        text: str | None,
        speech_ms: float,
        *,
        agent_said: str = "",
        line_echoes: bool = False,
    ) -> Verdict:
        """The verdict on ``speech_ms`` of speech transcribed as ``text`` (None: not
        transcribed yet). ``agent_said`` is what the agent played just before and during it;
        it matters only when ``line_echoes``."""
        if speech_ms < self.min_speech_ms or text is None:
            return Verdict.UNDECIDED
        if not words_of(text):
            return Verdict.NOISE
        if is_backchannel(text):
            return Verdict.BACKCHANNEL
        if line_echoes and is_echo_of(text, agent_said):
            return Verdict.ECHO
        return Verdict.INTERRUPT
