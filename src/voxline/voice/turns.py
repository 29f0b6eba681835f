"""What a call's session keeps of each turn: contact turns waiting for an answer, and the
agent's turns as they are spoken.

A contact turn reaches the session as audio to transcribe (:class:`HeardAudio`, from the
VAD), as words a streaming speech-to-text ended the turn with (:class:`HeardText`, from
:mod:`voxline.voice.hearing`) or as words already (:class:`~voxline.voice.channel.Heard`,
from a text line); a :class:`Silence` stands for a silence timeout. An :class:`AgentTurn` is
one reply: its utterances still to play (``pending``), what of it was actually said
(``spoken``) and whether the contact cut it short. Finished turns go to a :class:`TranscriptSink`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from voxline.voice.turn_gap import TurnMarks


@dataclass
class HeardAudio:
    """One contact utterance as the VAD captured it (times on the session's clock)."""

    pcm: bytes
    started_at: float
    last_word_at: float
    vad_wait_ms: float
    # The clock marks and channel positions of the turn, for its latency figures.
    marks: TurnMarks | None = None


@dataclass(frozen=True, slots=True)
class HeardText:
    """One contact turn a streaming engine transcribed and ended (times on the session's
    clock); ``endpoint_wait_ms`` is how long after the last word the engine ended it."""

    text: str
    started_at: float
    last_word_at: float
    endpoint_wait_ms: float


@dataclass
class Silence:
    """The contact said nothing for the silence timeout."""


@dataclass
class AgentTurn:
    started_at: float | None = None
    spoken: list[str] = field(default_factory=list)
    pending: int = 0
    marks: TurnMarks | None = None
    cut: bool = False
    written: bool = False


class TranscriptSink(Protocol):
    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        """Store one turn; ``timestamp`` is seconds from the answer to the turn's start."""
