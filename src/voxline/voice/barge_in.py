"""Barge-in on a live audio call: holding the agent's speech while the contact's speech over
it is judged, then stopping the turn or going on.

:class:`BargeInGate` is the session's one object for it. It owns the call's
:class:`~voxline.voice.echo.EchoCanceller` (the agent's outgoing frames are its reference;
the VAD hears the cleaned incoming frames) and applies the
:class:`~voxline.voice.interruptions.BargeInPolicy` to each stretch of speech that starts
while the agent plays:

1. **Hold** at once, on the VAD's speech start (~0.1 s after the onset): the agent's
   playback pauses where it is (nothing is dropped) and the contact hears silence.
2. **Judge** once :attr:`~BargeInPolicy.min_speech_ms` of speech was heard: the audio so far
   is transcribed in the background (one transcription at a time, again as more speech
   comes, and once more on the whole utterance when it ends), and judged on its words.
3. **Stop** on an interruption: the turn is cut where it was held, and the utterance becomes
   the contact's next turn as usual. Words heard while the contact is still talking stop
   the agent at once; a single word from an utterance that already ended waits for the
   whole utterance's transcription (a partial "mm-hmm" can be misheard as "no").
   Speech that goes on for :attr:`~BargeInPolicy.long_speech_ms` before any words are
   known stops the agent too: a backchannel is short.
4. **Resume** once the contact is quiet again (250 ms) and it was not found to be an
   interruption by then (a backchannel, noise, the agent's own echo, or no words known
   yet), or after :attr:`~BargeInPolicy.max_hold_ms` at the latest: playback goes on
   from the held position, the turn is not cut and nothing is answered. An utterance
   still being judged when the agent resumed can still stop it when its words come in. A
   backchannel's words are kept for the transcript (:meth:`keep`,
   :meth:`take_backchannels`); one heard as the agent's turn was ending is the contact's
   answer ("yes" to a question), and the session answers it.

Decision: hold, then stop or resume, rather than stop on a duration alone or keep talking
until the words are known. Transcribing takes 0.3-0.5 s on an idle CPU (seconds on a loaded
one), so a stop on words alone would come 0.6 s or more after the onset; holding on the
speech start silences the agent within ~0.15 s of a real interruption, and costs a
backchannel a short pause (about its own length) instead of a lost turn and a repeated
reply. Resuming on quiet rather than on the verdict bounds that pause whatever the
transcription's latency. A speaker talked over with "uh-huh" pauses and goes on, too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from voxline.voice.echo import EchoCanceller
from voxline.voice.interruptions import BargeInPolicy, Verdict, words_of
from voxline.voice.stt.base import SpeechToText
from voxline.voice.turns import HeardAudio
from voxline.voice.vad import EndpointState, StreamingVad

log = logging.getLogger(__name__)

# How many of the agent's last utterances are compared with the heard words for echo.
AGENT_TEXTS_KEPT = 3
# Quiet after speech (ms) before a held agent goes on: the contact has stopped.
QUIET_MS = 250.0
# Speech this long (ms) with one non-backchannel word heard in it stops the agent at once.
SURE_SPEECH_MS = 700.0
# What a failed transcription is judged as: a word, so it interrupts.
UNHEARD = "(unheard)"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the session does. :attr:`Verdict.INTERRUPT`: stop the agent's turn and, with
    ``heard`` (an utterance that had already ended), answer it. Any other verdict: the
    speech was not an interruption (UNDECIDED: not known yet); ``resume`` says whether the
    agent's held playback goes on now. ``heard`` and ``text`` are set on the verdict of an
    utterance that ended (a backchannel the session keeps with :meth:`BargeInGate.keep`, or
    answers if the agent had finished meanwhile)."""

    verdict: Verdict
    heard: HeardAudio | None = None
    resume: bool = False
    text: str = ""
    agent_left_s: float = 0.0  # of the agent's queued speech when the contact started


class _Stretch:
    """One stretch of the contact's speech over the agent, being judged."""

    def __init__(self, held_from_ms: float, agent_left_s: float) -> None:
        self.held_from_ms = held_from_ms
        self.agent_left_s = agent_left_s
        self.holding = True
        self.check: asyncio.Task[str] | None = None
        self.checking_to_ms = 0.0  # stream position the running check hears up to
        self.text: str | None = None  # the latest check's words
        self.text_to_ms = 0.0
        self.heard: HeardAudio | None = None  # set once the stretch ended
        self.ended_at_ms = 0.0
        self.final_started = False

    def take_check(self) -> None:
        check = self.check
        if check is None or not check.done():
            return
        self.check = None
        self.text_to_ms = self.checking_to_ms
        if check.cancelled():
            self.text = UNHEARD
            return
        error = check.exception()
        if error is not None:
            # Unheard words count as words: a failing transcription never hides a real
            # interruption (the utterance then takes the usual path and its retries).
            log.warning("barge-in transcription failed", extra={"error": type(error).__name__})
            self.text = UNHEARD
            return
        self.text = check.result()

    def drop(self) -> None:
        if self.check is not None:
            self.check.add_done_callback(_ignore)
            self.check = None


class BargeInGate:
    """Per call: echo removal on the way in, and the hold / stop / resume decision.

    The session calls :meth:`played` with each outgoing frame, :meth:`clean` on each
    incoming frame before its VAD, :meth:`open_at` on a speech start during playback,
    :meth:`ended` on the speech end of an :attr:`open` stretch, and :meth:`poll` after each
    incoming frame to learn what to do. Stretches that ended are judged to the end even
    when new speech starts meanwhile.
    """

    def __init__(
        self,
        stt: SpeechToText,
        policy: BargeInPolicy | None = None,
        echo: EchoCanceller | None = None,
    ) -> None:
        self.stt = stt
        self.policy = policy or BargeInPolicy()
        self.echo = echo or EchoCanceller()
        self._current: _Stretch | None = None
        self._ended: deque[_Stretch] = deque()
        self._agent_texts: deque[str] = deque(maxlen=AGENT_TEXTS_KEPT)
        self._backchannels: list[tuple[str, float]] = []

    # The agent's side.

    def played(self, pcm: bytes, text: str | None) -> None:
        """The agent's next outgoing frame, and the text of the utterance it belongs to."""
        self.echo.reference(pcm)
        if text and (not self._agent_texts or self._agent_texts[-1] != text):
            self._agent_texts.append(text)

    # The contact's side.

    def clean(self, pcm: bytes) -> bytes:
        """The incoming frame with the agent's echo removed."""
        return self.echo.process(pcm)

    @property
    def open(self) -> bool:
        """Whether the contact's current speech started over the agent and is judged."""
        return self._current is not None

    @property
    def holding(self) -> bool:
        return self._current is not None and self._current.holding

    def open_at(self, vad: StreamingVad, agent_left_s: float) -> None:
        """Speech started while the agent plays, with ``agent_left_s`` of its speech still
        queued: hold (the session pauses its playback)."""
        if self._current is not None:
            self._current.drop()
        self._current = _Stretch(vad.endpointer.position_ms, agent_left_s)

    def ended(self, heard: HeardAudio, vad: StreamingVad) -> None:
        """The open stretch of speech ended: ``heard`` is all of it."""
        stretch = self._current
        if stretch is None:
            return
        self._current = None
        stretch.heard = heard
        end = vad.endpointer.speech_ended_ms
        stretch.ended_at_ms = vad.endpointer.position_ms if end is None else end
        self._ended.append(stretch)

    def poll(self, vad: StreamingVad) -> Decision | None:
        """What to do now, if anything was decided; call after each incoming frame."""
        for ended in list(self._ended):
            decision = self._judge_ended(ended)
            if decision is not None:
                return decision
        stretch = self._current
        if stretch is None:
            return None
        stretch.take_check()
        endpointer = vad.endpointer
        position = endpointer.position_ms
        started = endpointer.speech_started_ms or position
        speech_ms = position - started
        voiced = endpointer.state is EndpointState.SPEECH
        voiced_ms = (position if voiced else endpointer.speech_ended_ms or position) - started
        quiet_ms = 0.0 if voiced else position - (endpointer.speech_ended_ms or position)
        verdict = self._judge(stretch.text, speech_ms)
        if verdict is Verdict.INTERRUPT:
            # One word of a short utterance waits for the whole one (it may be a misheard
            # backchannel); more words, or speech going on, stop the agent now.
            many = len(words_of(stretch.text or "")) >= 2
            if voiced and (many or speech_ms >= SURE_SPEECH_MS):
                stretch.drop()
                self._current = None  # once it ends, it is the contact's next turn
                return Decision(Verdict.INTERRUPT)
        elif verdict is Verdict.UNDECIDED and voiced_ms >= self.policy.long_speech_ms:
            stretch.drop()
            self._current = None
            return Decision(Verdict.INTERRUPT)
        if speech_ms >= self.policy.min_speech_ms and stretch.check is None and voiced:
            self._check(stretch, vad.utterance_so_far(), position)
        # Go on once the contact is quiet (or after max_hold), whatever is known by then: a
        # longer hold waiting for slow words makes a person who said "mm-hmm" think the
        # agent is done, and talk. An interruption whose words come later still stops it.
        if stretch.holding and (
            quiet_ms >= QUIET_MS or position - stretch.held_from_ms >= self.policy.max_hold_ms
        ):
            stretch.holding = False
            known = verdict not in (Verdict.INTERRUPT, Verdict.UNDECIDED)
            return Decision(verdict if known else Verdict.UNDECIDED, resume=True)
        return None

    def keep(self, decision: Decision) -> None:
        """Keep a backchannel's words for the transcript (:meth:`take_backchannels`)."""
        if decision.heard is not None and decision.text:
            self._backchannels.append((decision.text, decision.heard.started_at))

    def take_backchannels(self) -> list[tuple[str, float]]:
        """The backchannels heard (words, session-clock time of their start), once."""
        taken, self._backchannels = self._backchannels, []
        return taken

    def close(self) -> None:
        """The call is over: transcriptions still running are left to finish unheard."""
        for stretch in [*self._ended, *([self._current] if self._current else [])]:
            stretch.drop()
        self._ended.clear()
        self._current = None

    # Internals.

    def _judge(self, text: str | None, speech_ms: float) -> Verdict:
        return self.policy.judge(
            text,
            speech_ms,
            agent_said=" ".join(self._agent_texts),
            line_echoes=self.echo.echo_present,
        )

    def _judge_ended(self, stretch: _Stretch) -> Decision | None:
        heard = stretch.heard
        assert heard is not None
        stretch.take_check()
        if stretch.text is None or stretch.text_to_ms < stretch.ended_at_ms:
            # The checks so far did not hear all of it: once more, on the whole utterance.
            if stretch.check is None and not stretch.final_started:
                stretch.final_started = True
                self._check(stretch, heard.pcm, stretch.ended_at_ms)
            if stretch.check is not None:
                return None
        self._ended.remove(stretch)
        text = stretch.text or ""
        verdict = self._judge(text, float("inf"))
        if verdict is Verdict.INTERRUPT:
            if self._current is not None:
                self._current.drop()
                self._current = None  # newer speech, once it ends, is answered next
            return Decision(Verdict.INTERRUPT, heard)
        resume = stretch.holding and self._current is None
        return Decision(
            verdict, heard, resume=resume, text=text.strip(), agent_left_s=stretch.agent_left_s
        )

    def _check(self, stretch: _Stretch, pcm: bytes, position_ms: float) -> None:
        stretch.checking_to_ms = position_ms
        stretch.check = asyncio.ensure_future(self.stt.transcribe(pcm))


def _ignore(task: asyncio.Task[str]) -> None:
    with contextlib.suppress(BaseException):
        task.exception()
