"""A live call's voice session: the agent listens, thinks and speaks on a media transport.

One :class:`CallSession` per call owns, in one task group, the media clock (one agent frame
out every 20 ms, silence when idle), the listener (VAD endpointing on the contact's audio,
barge-in) and the responder (STT, brain, TTS clause by clause). The transcript is written
turn by turn; an agent turn cut short by barge-in is stored as far as it was played. The
recording (agent left, contact right) and the latency figures are kept as the call goes.

Every stage runs inside the error boundary of ``voice.stages``: a stage that fails twice (or
times out) makes the agent apologise and hang up, and the failure is reported through
``on_failure`` and kept in :attr:`CallSession.failure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from voxline.voice.brain.base import Brain, EndCall, Reply, StreamingBrain, Utterance
from voxline.voice.brain.clauses import split_clauses
from voxline.voice.brain.scripted import FAREWELL
from voxline.voice.channel import LineClosed
from voxline.voice.frames import FRAME_MS, AudioFrame
from voxline.voice.metrics import CallMetrics, TurnLatency
from voxline.voice.playback import Playback
from voxline.voice.playback import Utterance as Speech
from voxline.voice.stages import (
    APOLOGY,
    FailureSink,
    Stage,
    StageFailed,
    StageFailure,
    StageLimits,
    describe,
    run_stage,
)
from voxline.voice.stt.base import SpeechToText
from voxline.voice.text_session import TranscriptSink
from voxline.voice.transport import MediaTransport
from voxline.voice.tts.base import TextToSpeech
from voxline.voice.vad import SPEECH_END, SPEECH_START, StreamingVad

log = logging.getLogger(__name__)

_CLAUSE_END = re.compile(r"(?<=[.!?;])\s+")


def sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end, so speech can start with the first one."""
    return [part.strip() for part in _CLAUSE_END.split(text) if part.strip()]


class Recording(Protocol):
    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class SessionConfig:
    silence_timeout_s: float = 6.0
    agent_voice: str | None = None
    limits: StageLimits = field(default_factory=StageLimits)


@dataclass
class _Heard:
    pcm: bytes
    started_at: float
    last_word_at: float
    vad_wait_ms: float


@dataclass
class _Silence:
    pass


@dataclass
class _Turn:
    started_at: float | None = None
    complete: bool = False
    spoken: list[str] = field(default_factory=list)
    pending: int = 0
    latency: TurnLatency | None = None
    last_word_at: float | None = None
    cut: bool = False
    written: bool = False


class _Aligner:
    """Pairs the two directions of audio into equal chunks for a stereo recording."""

    def __init__(self, recording: Recording | None) -> None:
        self._recording = recording
        self._agent = bytearray()
        self._contact = bytearray()

    def agent(self, pcm: bytes) -> None:
        self._agent += pcm
        self._flush()

    def contact(self, pcm: bytes) -> None:
        self._contact += pcm
        self._flush()

    def _flush(self) -> None:
        ready = min(len(self._agent), len(self._contact))
        if ready and self._recording is not None:
            self._recording.write(bytes(self._agent[:ready]), bytes(self._contact[:ready]))
        del self._agent[:ready]
        del self._contact[:ready]

    def close(self) -> None:
        if self._recording is not None and (self._agent or self._contact):
            size = max(len(self._agent), len(self._contact))
            self._recording.write(
                bytes(self._agent.ljust(size, b"\0")), bytes(self._contact.ljust(size, b"\0"))
            )
        self._agent.clear()
        self._contact.clear()


class CallSession:
    def __init__(
        self,
        *,
        brain: Brain,
        stt: SpeechToText,
        tts: TextToSpeech,
        vad: StreamingVad,
        transcript: TranscriptSink,
        recording: Recording | None = None,
        config: SessionConfig | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        on_failure: FailureSink | None = None,
    ) -> None:
        self.brain = brain
        self.stt = stt
        self.tts = tts
        self.vad = vad
        self.transcript = transcript
        self.config = config or SessionConfig()
        self.metrics = CallMetrics()
        # The media clock's time and pacing; voxline.testing's VirtualClock replaces both.
        self._clock = clock or asyncio.get_event_loop().time
        self._sleep = sleep or asyncio.sleep
        self._aligner = _Aligner(recording)
        self._playback = Playback()
        self._history: list[Utterance] = []
        self._turns: dict[int, _Turn] = {}
        self._next_turn = 0
        self._greeting: tuple[Reply, list[tuple[str, bytes]]] | None = None
        self._inbox: asyncio.Queue[_Heard | _Silence] = asyncio.Queue()
        self._responding = False
        self._in_flight: _Heard | None = None
        self._hangup_after: int | None = None
        self._answered_at = 0.0
        self._last_activity = 0.0
        self._speech_started_at = 0.0
        self._on_failure = on_failure
        self._greeting_failure: StageFailure | None = None
        self._hang_up_now = False
        self._failure_reported = False
        self.failure: StageFailure | None = None

    def attach_recording(self, recording: Recording) -> None:
        """Record both sides from now on (before :meth:`run`)."""
        self._aligner = _Aligner(recording)

    async def prepare(self) -> None:
        """Synthesize the greeting ahead of time (while the phone rings).

        Never raises for a failing stage: the failure is kept and the call, once answered,
        gets the apology instead of the greeting.
        """
        if self._greeting is not None or self._greeting_failure is not None:
            return
        try:
            reply = await run_stage(Stage.BRAIN, self.brain.greet, self.config.limits)
            self._greeting = (reply, await self._synthesize_all(reply.text))
        except StageFailed as failed:
            self._greeting_failure = failed.failure

    async def _synthesize(self, text: str) -> bytes:
        voice = self.config.agent_voice
        return await run_stage(
            Stage.TTS, lambda: self.tts.synthesize(text, voice), self.config.limits
        )

    async def _synthesize_all(self, text: str) -> list[tuple[str, bytes]]:
        return [(part, await self._synthesize(part)) for part in sentences(text)]

    async def _fail(self, failure: StageFailure) -> None:
        """End the call politely after a stage failed for good: report it, apologise (if
        text-to-speech still works) and hang up once the apology has played."""
        if self.failure is not None:
            return
        self.failure = failure
        voice = self.config.agent_voice
        try:
            pcm = await run_stage(
                Stage.TTS,
                lambda: self.tts.synthesize(APOLOGY, voice),
                self.config.limits,
                retry=False,
            )
        except StageFailed:
            self._hang_up_now = True
            return
        number = self._open_turn(Reply(APOLOGY, end_call=True), planned=1)
        self._playback.enqueue(Speech(number, APOLOGY, pcm))

    async def run(self, transport: MediaTransport) -> CallMetrics:
        """Hold the conversation until either side hangs up; returns the latency figures."""
        await self.prepare()
        self._answered_at = self._last_activity = self._clock()
        if self._greeting is not None:
            reply, audio = self._greeting
            turn = self._open_turn(reply, planned=len(audio))
            for text, pcm in audio:
                self._playback.enqueue(Speech(turn, text, pcm))
        elif self._greeting_failure is not None:
            await self._fail(self._greeting_failure)
        try:
            async with asyncio.TaskGroup() as group:
                clock = group.create_task(self._media_clock(transport))
                listener = group.create_task(self._listen(transport))
                responder = group.create_task(self._respond())
                await _first_done(clock, listener)
                for task in (clock, listener, responder):
                    task.cancel()
        finally:
            self._flush_turns(final=True)
            self._aligner.close()
            await self._write_finished_turns(final=True)
            await self._transcribe_leftovers()
            await self._report_failure()
        return self.metrics

    async def _report_failure(self) -> None:
        """Tell ``on_failure`` (once) after the apology is in the transcript."""
        if self.failure is None or self._failure_reported:
            return
        self._failure_reported = True
        if self._on_failure is not None:
            try:
                await self._on_failure(self.failure)
            except Exception:
                log.exception("recording a voice stage failure failed")

    async def _transcribe_leftovers(self) -> None:
        """The contact's last words, heard but not yet transcribed when the line closed."""
        leftovers: list[_Heard | _Silence] = [self._in_flight] if self._in_flight else []
        while not self._inbox.empty():
            leftovers.append(self._inbox.get_nowait())
        self._in_flight = None
        for item in leftovers:
            if isinstance(item, _Heard):
                try:
                    text = await run_stage(
                        Stage.STT, partial(self.stt.transcribe, item.pcm), self.config.limits
                    )
                except StageFailed:
                    continue  # the line is closed: nothing more to say; the rest is saved
                text = text.strip()
                if text:
                    timestamp = round(max(0.0, item.started_at - self._answered_at), 3)
                    await self.transcript.add("contact", text, timestamp)

    # Speaking.

    def _open_turn(
        self,
        reply: Reply | None,
        *,
        planned: int,
        latency: TurnLatency | None = None,
        last_word_at: float | None = None,
    ) -> int:
        """Start an agent turn of ``planned`` utterances (enqueued as they are synthesized)."""
        number = self._next_turn
        self._next_turn += 1
        self._turns[number] = _Turn(pending=planned, latency=latency, last_word_at=last_word_at)
        if reply is not None:
            self._history.append(Utterance("agent", reply.text))
            if reply.end_call:
                self._hangup_after = number
        return number

    async def _media_clock(self, transport: MediaTransport) -> None:
        period = FRAME_MS / 1000
        next_tick = self._clock()
        while not transport.closed:
            pcm, speech = self._playback.next_frame()
            if speech is not None:
                self._on_played(speech)
            try:
                await transport.send(AudioFrame(pcm))
            except LineClosed:
                return
            self._aligner.agent(pcm)
            self._flush_turns()
            if self._end_reached():
                # The last turn is in the transcript before the call ends.
                await self._write_finished_turns()
                await self._report_failure()
                transport.hangup("agent")
                return
            self._check_silence()
            next_tick += period
            await self._sleep(max(0.0, next_tick - self._clock()))

    def _on_played(self, speech: Speech) -> None:
        turn = self._turns[speech.turn]
        if turn.started_at is None:
            now = self._clock()
            turn.started_at = now
            if speech.turn == 0:
                self.metrics.answer_to_first_audio_ms = (turn.started_at - self._answered_at) * 1000
            elif turn.latency is not None and turn.last_word_at is not None:
                turn.latency.total_ms = (turn.started_at - turn.last_word_at) * 1000
        self._last_activity = self._clock()

    def _flush_turns(self, final: bool = False) -> None:
        """Account for utterances played to the end or cut (``final``: the call is over)."""
        if final:
            self._playback.cut()
        for speech in self._playback.take_finished():
            turn = self._turns[speech.turn]
            if speech.played_bytes and (spoken := speech.spoken_text()):
                turn.spoken.append(spoken)
            turn.pending -= 1

    def _end_reached(self) -> bool:
        if self._hang_up_now:
            return True
        if self._hangup_after is None:
            return False
        turn = self._turns.get(self._hangup_after)
        return turn is not None and turn.pending <= 0 and not self._playback.active

    def _check_silence(self) -> None:
        if self._playback.active or self.vad.speaking or self._responding:
            return
        if not self._inbox.empty() or self._hangup_after is not None:
            return
        if self._clock() - self._last_activity >= self.config.silence_timeout_s:
            self._last_activity = self._clock()
            self._inbox.put_nowait(_Silence())

    async def _write_finished_turns(self, final: bool = False) -> None:
        """Write agent turns whose every utterance was played or cut, in order."""
        for number in sorted(self._turns):
            turn = self._turns[number]
            if turn.written or (turn.pending > 0 and not final):
                continue
            turn.written = True
            if turn.spoken and turn.started_at is not None:
                await self.transcript.add(
                    "agent", " ".join(turn.spoken), round(turn.started_at - self._answered_at, 3)
                )

    # Listening.

    async def _listen(self, transport: MediaTransport) -> None:
        while True:
            try:
                frame = await transport.receive()
            except LineClosed:
                return
            self._aligner.contact(frame.pcm)
            for event in self.vad.feed(frame):
                now = self._clock()
                endpointer = self.vad.endpointer
                behind = (endpointer.position_ms - (endpointer.speech_started_ms or 0.0)) / 1000
                if event is SPEECH_START:
                    self._speech_started_at = now - behind
                    self._last_activity = now
                    if self._playback.active:
                        await self._barge_in(transport)
                elif event is SPEECH_END:
                    pcm = self.vad.take_utterance()
                    ended = (endpointer.speech_ended_ms or endpointer.position_ms) / 1000
                    wait_s = endpointer.position_ms / 1000 - ended
                    self._last_activity = now
                    if pcm:
                        self._inbox.put_nowait(
                            _Heard(pcm, self._speech_started_at, now - wait_s, wait_s * 1000)
                        )

    async def _barge_in(self, transport: MediaTransport) -> None:
        """The contact talks over the agent: stop speaking now, drop the rest of the turn."""
        self.metrics.barge_ins += 1
        self._playback.cut()
        for turn in self._turns.values():
            if turn.pending > 0:
                turn.cut = True
        self._flush_turns()
        await transport.clear()
        # A cut goodbye is not a goodbye: the contact is heard out first. A cut apology still
        # ends the call: the agent cannot go on.
        if self.failure is None:
            self._hangup_after = None

    # Thinking.

    async def _respond(self) -> None:
        try:
            await self._respond_to_each()
        except StageFailed as failed:
            self._in_flight = None
            await self._fail(failed.failure)

    async def _respond_to_each(self) -> None:
        limits = self.config.limits
        silences = 0
        while self.failure is None:
            item = await self._inbox.get()
            self._responding = True
            try:
                await self._write_finished_turns()
                if isinstance(item, _Silence):
                    silences += 1
                    on_silence = partial(self.brain.on_silence, silences)
                    await self._say(await run_stage(Stage.BRAIN, on_silence, limits))
                    continue
                silences = 0
                started = self._clock()
                self._in_flight = item
                transcribe = partial(self.stt.transcribe, item.pcm)
                text = (await run_stage(Stage.STT, transcribe, limits)).strip()
                stt_ms = (self._clock() - started) * 1000
                if not text:
                    self._in_flight = None
                    continue
                await self.transcript.add(
                    "contact", text, round(max(0.0, item.started_at - self._answered_at), 3)
                )
                self._in_flight = None
                self._history.append(Utterance("contact", text))
                latency = TurnLatency(item.vad_wait_ms, stt_ms, brain_ms=0.0, tts_ms=0.0)
                self.metrics.turns.append(latency)
                if isinstance(self.brain, StreamingBrain):
                    await self._say_streamed(self.brain, latency, item.last_word_at)
                    continue
                thinking = self._clock()
                respond = partial(self.brain.respond, list(self._history))
                reply = await run_stage(Stage.BRAIN, respond, limits)
                latency.brain_ms = (self._clock() - thinking) * 1000
                await self._say(reply, latency, item.last_word_at)
            finally:
                self._responding = False

    async def _say(
        self, reply: Reply, latency: TurnLatency | None = None, last_word_at: float | None = None
    ) -> None:
        """Speak ``reply`` sentence by sentence: each plays as soon as it is synthesized."""
        parts = sentences(reply.text)
        number = self._open_turn(
            reply, planned=len(parts), latency=latency, last_word_at=last_word_at
        )
        turn = self._turns[number]
        for index, part in enumerate(parts):
            if turn.cut:
                turn.pending -= 1
                continue
            started = self._clock()
            pcm = await self._synthesize(part)
            if index == 0 and latency is not None:
                latency.tts_ms = (self._clock() - started) * 1000
            if turn.cut:
                turn.pending -= 1
                continue
            self._playback.enqueue(Speech(number, part, pcm))

    async def _say_streamed(
        self, brain: StreamingBrain, latency: TurnLatency, last_word_at: float
    ) -> None:
        """Speak a reply while the brain is still writing it, clause by clause.

        A stream that fails before its first clause is asked once more; once something was
        said, a failure ends the call (a repeated stream would say it twice).
        """
        number = self._open_turn(None, planned=1, latency=latency, last_word_at=last_word_at)
        turn = self._turns[number]
        thinking = self._clock()
        said: list[str] = []
        end_call = False
        timeout_s = self.config.limits.timeout(Stage.BRAIN)
        try:
            for attempt in (1, 2):
                pieces = split_clauses(brain.stream(list(self._history)))
                try:
                    async for piece in _each_within(pieces, timeout_s):
                        if isinstance(piece, EndCall):
                            end_call = True
                            continue
                        if not said:
                            latency.brain_ms = (self._clock() - thinking) * 1000
                        said.append(piece)
                        if turn.cut:
                            continue
                        started = self._clock()
                        pcm = await self._synthesize(piece)
                        if len(said) == 1:
                            latency.tts_ms = (self._clock() - started) * 1000
                        if not turn.cut:
                            turn.pending += 1
                            self._playback.enqueue(Speech(number, piece, pcm))
                    break
                except StageFailed:
                    raise
                except Exception as exc:
                    log.warning(
                        "voice stage failed",
                        extra={
                            "stage": Stage.BRAIN.value,
                            "attempt": attempt,
                            "error": type(exc).__name__,
                        },
                    )
                    if said or end_call or attempt == 2:
                        raise StageFailed(describe(Stage.BRAIN, exc, timeout_s)) from exc
            if end_call and not said:
                said.append(FAREWELL)
                turn.pending += 1
                pcm = await self._synthesize(FAREWELL)
                self._playback.enqueue(Speech(number, FAREWELL, pcm))
        finally:
            turn.pending -= 1  # the stream itself is done
            self._history.append(Utterance("agent", " ".join(said)))
            if end_call and not turn.cut:
                self._hangup_after = number


async def _each_within(
    pieces: AsyncIterator[str | EndCall], timeout_s: float
) -> AsyncIterator[str | EndCall]:
    """The items of ``pieces``, each of which must arrive within ``timeout_s``."""
    try:
        while True:
            try:
                piece = await asyncio.wait_for(anext(pieces), timeout_s)
            except StopAsyncIteration:
                return
            yield piece
    finally:
        closer = getattr(pieces, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


async def _first_done(*tasks: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
