"""A reply prepared while the contact pauses, before the turn is known to be over.

At a VAD stop the end-of-turn model still has to decide (and may wait). Meanwhile the
:class:`Speculator` starts the work the answer needs: speech-to-text of the turn so far and,
when the brain may be asked ahead (:func:`replayable`), the brain's reply up to its first
clause, synthesized. If the contact goes on, :meth:`Speculator.drop` cancels it all and
nothing of it is ever played or kept. If the turn is confirmed, :meth:`Speculator.take`
hands the :class:`Draft` to the responder, which plays the first clause at once and goes on
with the rest of the same brain stream: no work is done twice.

A brain is asked ahead only if it says it is a pure function of the history (a class
attribute ``replayable = True``, as :class:`~voxline.voice.brain.openai.OpenAIBrain` and
:class:`~voxline.voice.brain.scripted.ScriptedBrain`): a brain that kept state between
requests (a script position in a counter) would skip a line for every dropped draft.
Speech-to-text is always safe to run ahead. A draft may even start before the VAD's stop, a
few windows into the silence after speech (:meth:`Speculator.start_early`): if the stop
follows with no speech in between, the draft is that turn's, so the work starts that much
sooner; if the contact speaks again it is dropped like any other. The transcript is also
given on its own (:meth:`Speculator.words`), as soon as it is known, to the end-of-turn
gate, which holds a turn whose words stop mid-sentence and answers sooner one whose words
end a sentence. When speech-to-text timed its words, the gate is also told which of them lie
inside the speech (:func:`~voxline.domain.turn_taking.heard_words`, up to the last audible
10 ms of the draft's audio): the reply itself is made from the whole transcript, since a
word guessed after the cut is dropped with the draft when the contact goes on, and a word
really said but placed late is better kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from voxline.domain.turn_taking import Said, heard_words
from voxline.voice.brain.base import (
    Brain,
    EndCall,
    Reply,
    StreamingBrain,
    ToolCall,
    Turn,
    Utterance,
)
from voxline.voice.brain.clauses import sentences
from voxline.voice.stt.base import Transcript
from voxline.voice.turn_gap import BLOCK_BYTES, BLOCK_MS, audible_blocks
from voxline.voice.turns import HeardAudio

Piece = str | EndCall | ToolCall


def said_of(transcript: Transcript, pcm: bytes) -> Said:
    """The transcript, and the words of it inside the audible speech of ``pcm`` when they
    were timed."""
    text = transcript.text.strip()
    if not transcript.words:
        return Said(text)
    loud = audible_blocks(pcm).nonzero()[0]
    blocks = int(loud[-1]) + 1 if loud.size else len(pcm) // BLOCK_BYTES
    end_s = blocks * BLOCK_MS / 1000
    heard = heard_words(transcript.words, end_s)
    return Said(text, " ".join(word.text for word in heard))


def replayable(brain: Brain) -> bool:
    """Whether ``brain`` may be asked for a reply that could then be thrown away."""
    return getattr(type(brain), "replayable", False) is True


@dataclass
class Draft:
    """What was prepared for one stop: the words heard, and perhaps the reply's start."""

    text: str
    stt_started_at: float
    stt_done_at: float
    # The history the brain was asked with (its length), to check it still holds.
    history_len: int = 0
    # Streaming brain: the pieces received up to the first clause, and the rest of the stream.
    pieces: list[Piece] = field(default_factory=list)
    rest: AsyncIterator[Piece] | None = None
    # Non-streaming brain: the whole reply.
    reply: Reply | None = None
    first_pcm: bytes | None = None
    first_clause_at: float | None = None
    queued_at: float | None = None
    # The brain failed ahead: that was its first attempt, the responder makes the second.
    failed: Exception | None = None

    @property
    def has_reply(self) -> bool:
        return self.reply is not None or bool(self.pieces) or self.rest is not None

    @property
    def usable(self) -> bool:
        """Whether the brain was asked ahead (successfully or not)."""
        return self.has_reply or self.failed is not None

    async def stream(self) -> AsyncIterator[Piece]:
        """The brain's pieces: the ones received ahead, then the rest of its stream."""
        try:
            for piece in self.pieces:
                yield piece
            if self.rest is not None:
                async for piece in self.rest:
                    yield piece
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the brain's stream (a draft thrown away, or its reply not used)."""
        rest, self.rest = self.rest, None
        closer = getattr(rest, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


@dataclass(frozen=True)
class Work:
    """The session's stages, as the speculator may call them."""

    transcribe: Callable[[bytes], Awaitable[Transcript]]
    synthesize: Callable[[str], Awaitable[bytes]]
    clauses: Callable[[Sequence[Turn]], AsyncIterator[Piece]]
    clock: Callable[[], float]


class Speculator:
    """At most one draft at a time, for the turn last held by the end-of-turn gate."""

    def __init__(self, brain: Brain, work: Work) -> None:
        self.brain = brain
        self.work = work
        self._heard: HeardAudio | None = None
        self._task: asyncio.Task[Draft] | None = None
        # The draft's transcript, as soon as speech-to-text is done (before the reply).
        self._text: asyncio.Future[Said] | None = None
        self.started = 0
        self.dropped = 0

    @property
    def early(self) -> bool:
        """A draft was started before the VAD's stop and waits to be given its turn."""
        return self._task is not None and self._heard is None

    def start(self, heard: HeardAudio, history: Sequence[Turn]) -> None:
        """Prepare an answer to ``heard`` (replacing any earlier draft); a draft started
        early (:meth:`start_early`) for the same speech becomes the one for ``heard``."""
        if self.early:
            self._heard = heard
            return
        self._begin(heard.pcm, history)
        self._heard = heard

    def start_early(self, pcm: bytes, history: Sequence[Turn]) -> None:
        """Prepare an answer to the speech heard so far (``pcm``), a little into the
        silence after it and before the VAD's stop; :meth:`start` then adopts it, or
        :meth:`drop` forgets it if the contact speaks again first."""
        self._begin(pcm, history)

    def _begin(self, pcm: bytes, history: Sequence[Turn]) -> None:
        self.drop()
        self.started += 1
        loop = asyncio.get_running_loop()
        self._text = text = loop.create_future()
        self._task = loop.create_task(self._prepare(pcm, list(history), text))

    def drop(self) -> None:
        """The contact went on (or the call ended): forget the draft and stop its work."""
        task, self._task, self._heard = self._task, None, None
        text, self._text = self._text, None
        if text is not None and not text.done():
            text.cancel()
        if task is None:
            return
        self.dropped += 1
        if task.done():
            if not task.cancelled() and task.exception() is None:
                asyncio.get_running_loop().create_task(task.result().close())
            return
        task.cancel()

    async def take(self, heard: HeardAudio) -> Draft | None:
        """The draft made for exactly ``heard``, once it is ready; None when there is none
        (the responder then does the work itself). Speech-to-text that failed ahead (after
        its retry) raises its :class:`~voxline.voice.stages.StageFailed` here, as it would
        have in the responder; a brain or voice failure ahead only leaves the reply undrafted."""
        task, self._task = self._task, None
        made_for, self._heard = self._heard, None
        text, self._text = self._text, None
        if task is None:
            return None
        if made_for is not heard:
            self._task, self._heard, self._text = task, made_for, text
            self.drop()
            return None
        try:
            # Shielded: the responder being cancelled (the call ends) must not read as the
            # draft being dropped, and vice versa.
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                task.cancel()
                raise
            return None

    async def words(self, heard: HeardAudio) -> Said | None:
        """The transcript (and the words heard) of the draft being made for exactly
        ``heard``, once speech-to-text is done, without taking the draft; None when there is
        no such draft, it was dropped meanwhile, or speech-to-text failed (:meth:`take`
        reports that)."""
        said = self._text
        if said is None or self._heard is not heard:
            return None
        try:
            return await asyncio.shield(said)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return None  # dropped or failed, not this caller cancelled

    async def _prepare(self, pcm: bytes, history: list[Turn], said: asyncio.Future[Said]) -> Draft:
        work = self.work
        started = work.clock()
        try:
            transcript = await work.transcribe(pcm)
        except BaseException:
            said.cancel()  # no words to judge; take() reports a failure
            raise
        text = transcript.text.strip()
        if not said.done():
            said.set_result(said_of(transcript, pcm))
        draft = Draft(text, started, work.clock(), history_len=len(history))
        if not text or not replayable(self.brain):
            return draft
        asked = [*history, Utterance("contact", text)]
        try:
            await self._reply(draft, asked)
        except asyncio.CancelledError:
            await draft.close()
            raise
        except Exception as exc:
            # The brain failed ahead: its first attempt; the responder makes the second.
            await draft.close()
            draft.pieces, draft.reply, draft.first_pcm = [], None, None
            draft.failed = exc
        return draft

    async def _reply(self, draft: Draft, asked: list[Turn]) -> None:
        work = self.work
        if isinstance(self.brain, StreamingBrain):
            rest = work.clauses(asked)
            draft.rest = rest
            async for piece in rest:
                draft.pieces.append(piece)
                if isinstance(piece, str):
                    draft.first_clause_at = work.clock()
                    await self._voice(draft, piece)
                    return
            draft.rest = None  # the stream ended
            return
        reply = await self.brain.respond(asked)
        draft.reply = reply
        draft.first_clause_at = work.clock()
        parts = sentences(reply.text)
        if parts:
            await self._voice(draft, parts[0])

    async def _voice(self, draft: Draft, clause: str) -> None:
        """Synthesize the first clause; if that fails the responder does it (with its
        retries), so a failure here is not the brain's."""
        try:
            draft.first_pcm = await self.work.synthesize(clause)
        except asyncio.CancelledError:
            raise
        except Exception:
            return
        draft.queued_at = self.work.clock()
