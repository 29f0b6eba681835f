"""A live call's voice session: the agent listens, thinks and speaks, on audio or on text.

One :class:`CallSession` per call holds the conversation policy whatever carries the call:
the greeting; answering turn by turn; a prompt after a silence and a hang-up after the
second; hanging up once an ``end_call`` goodbye has been said (one the contact cut short is
not a goodbye: the contact is heard out); the transcript written turn by turn, a cut agent
turn stored as far as it was said; and the error boundary of ``voice.stages``: a stage that
fails twice (or times out) makes the agent apologise and hang up, and the failure is kept in
:attr:`CallSession.failure` and reported through ``on_failure`` once the apology is written.

Two transports carry it. The turn logic (``_respond_to_each``, ``_fail``) is shared; only
where the contact's next turn comes from (``_next_item``), how a reply is said (``_say``) and
what paces the call differ:

- :meth:`CallSession.run`, on a :class:`~voxline.voice.transport.MediaTransport` (provider
  WebSocket, sandbox audio): a task group owns the media clock (one agent frame every 20 ms,
  silence when idle), the listener (VAD endpointing, barge-in) and the responder (STT, the
  brain, TTS clause by clause), and keeps the recording and latency figures.
  A VAD stop does not end the contact's turn by itself: :mod:`voxline.voice.end_of_turn`
  holds it until the end-of-turn model (and its policy) says the contact has finished, while
  :mod:`voxline.voice.speculation` drafts the answer; each answered turn's figures come from
  :mod:`voxline.voice.turn_gap` (the gap measured on the recording, and its stages).
- :meth:`CallSession.run_text`, on a :class:`~voxline.voice.channel.AgentLine` (sandbox text
  mode: tests and capacity runs): the responder alone. Contact turns arrive as words, a
  silence is ``listen`` timing out, a reply is said whole by ``say``, which reports what was
  said before any interruption. No media clock, VAD or speech model: a text call is one
  sleeping task, not a 20 ms timer.

Decision: one class with two entry points rather than a line interface with two
implementations. The audio path's frame-level state (playback position, pending turns,
barge-in) is what the turn book-keeping is made of; an interface would put an indirection on
every 20 ms frame. So the audio path is unchanged, and the text path reuses the same turn
objects (:mod:`voxline.voice.turns`) at the granularity of whole turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from voxline.domain.tools import BuiltinTool
from voxline.domain.turn_taking import TurnPolicy
from voxline.voice.audio import trim_leading_quiet
from voxline.voice.barge_in import BargeInGate
from voxline.voice.brain.base import (
    Brain,
    EndCall,
    Reply,
    StreamingBrain,
    ToolCall,
    ToolResult,
    ToolTurn,
    Turn,
    Utterance,
)
from voxline.voice.brain.clauses import sentences, split_clauses
from voxline.voice.brain.scripted import FAREWELL
from voxline.voice.channel import AgentLine, Heard, LineClosed
from voxline.voice.end_of_turn import EndOfTurn, Inference, TurnModel
from voxline.voice.frames import FRAME_MS, AudioFrame
from voxline.voice.hearing import StreamedHearing
from voxline.voice.interruptions import BargeInPolicy, Verdict
from voxline.voice.kit import SpeechModels
from voxline.voice.metrics import CallMetrics
from voxline.voice.playback import Playback
from voxline.voice.playback import Utterance as Speech
from voxline.voice.speculation import Draft, Speculator, Work
from voxline.voice.stages import (
    APOLOGY,
    FailureSink,
    Stage,
    StageFailed,
    StageFailure,
    StageLimits,
    describe,
    each_within,
    run_stage,
)
from voxline.voice.stereo import Aligner, Recording
from voxline.voice.stt.base import SpeechToText, TimedSpeechToText, Transcript
from voxline.voice.stt.stream import StreamingSpeechToText
from voxline.voice.ticker import PHASES, shared_ticker
from voxline.voice.tools import (
    BEEP_WAIT_SECONDS,
    SessionTools,
    ToolFailed,
    error_result,
    json_result,
    parse_arguments,
)
from voxline.voice.transport import MediaTransport
from voxline.voice.tts.base import TextToSpeech
from voxline.voice.turn_gap import BYTES_PER_MS, ContactTail, TurnMarks, WireMeter, leading_quiet_ms
from voxline.voice.turns import AgentTurn, HeardAudio, HeardText, Silence, TranscriptSink
from voxline.voice.vad import SPEECH_END, SPEECH_START, EndpointState, StreamingVad

log = logging.getLogger(__name__)

# Rounds of tool calls in one agent turn before the agent must speak.
MAX_TOOL_ROUNDS = 5
TIMELINE_TEXT_MAX = 500
# A backchannel heard with less than this left of the agent's turn is an answer to it.
ANSWER_WITHIN_S = 0.6


@dataclass(frozen=True, slots=True)
class SessionConfig:
    silence_timeout_s: float = 6.0
    agent_voice: str | None = None
    limits: StageLimits = field(default_factory=StageLimits)
    barge_in: BargeInPolicy = field(default_factory=BargeInPolicy)
    # After a VAD stop: how long to wait for the contact to go on (voice.end_of_turn).
    turn_policy: TurnPolicy = field(default_factory=TurnPolicy)
    # How far into the silence after speech the answer starts being drafted, before the
    # VAD's stop (voice.speculation); None: at the stop. Shorter drafts more often for
    # nothing (a pause between words), each a transcription's worth of CPU.
    early_draft_ms: float | None = 96.0
    # Audio handled per wake-up, each way: 20 ms frames, or blocks of them (the
    # media_block_ms setting). The agent's audio goes out a block per tick of the media
    # ticker; the contact's is heard a block at a time.
    media_block_ms: int = FRAME_MS
    # Slots of the media ticker's period (the media_phases setting; voice.ticker): the calls
    # seated in each are woken at their own time.
    media_phases: int = PHASES


class CallSession:
    """The agent's side of one live call. ``stt``, ``tts`` and ``vad`` are needed by
    :meth:`run` only: a session built without them runs on a text line."""

    def __init__(
        self,
        *,
        brain: Brain,
        transcript: TranscriptSink,
        stt: SpeechToText | None = None,
        tts: TextToSpeech | None = None,
        vad: StreamingVad | None = None,
        recording: Recording | None = None,
        config: SessionConfig | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        on_failure: FailureSink | None = None,
        tools: SessionTools | None = None,
        end_of_turn: TurnModel | None = None,
        turn_inference: Inference | None = None,
    ) -> None:
        self.brain = brain
        self.tools = tools
        self.speech = (
            SpeechModels(stt, tts, vad)
            if stt is not None and tts is not None and vad is not None
            else None
        )
        self.transcript = transcript
        self.config = config or SessionConfig()
        self.metrics = CallMetrics()
        # The media clock's time and pacing; voxline.testing's VirtualClock replaces both.
        self._clock = clock or asyncio.get_event_loop().time
        self._sleep = sleep or asyncio.sleep
        self._recording = recording
        # The audio path's recording, playback and inbox of heard utterances are made by
        # run(): a text-line session, one of thousands per process, never needs them.
        self._aligner: Aligner
        self._playback: Playback
        self._inbox: asyncio.Queue[HeardAudio | HeardText | Silence]
        # With a streaming speech-to-text, the engine ends the contact's turns (run()).
        self._hearing: StreamedHearing | None = None
        self._heard_last: list[HeardText] = []
        self._history: list[Turn] = []
        self._turns: dict[int, AgentTurn] = {}
        self._next_turn = 0
        self._greeting: tuple[Reply, list[tuple[str, bytes]]] | None = None
        self._text_line: AgentLine | None = None
        self._over = False
        self._responding = False
        self._in_flight: HeardAudio | None = None
        self._hangup_after: int | None = None
        self._answered_at = 0.0
        self._last_activity = 0.0
        self._speech_started_at = 0.0
        self._on_failure = on_failure
        self._greeting_failure: StageFailure | None = None
        self._hang_up_now = False
        self._failure_reported = False
        self.failure: StageFailure | None = None
        # Call control: the agent left the call to someone else (a transfer: no hang-up), or
        # left a voicemail message (reported once it is said, before the hang-up).
        self._leave = False
        self._voicemail_pending = False
        self._beep_heard: asyncio.Event | None = None
        self._beep_detector: _Detector | None = None
        self._notes: set[asyncio.Task[None]] = set()
        self._transport: MediaTransport | None = None
        # Audio path: echo removal and the hold / stop / resume of barge-in (made by run()).
        self._gate: BargeInGate | None = None
        # The end-of-turn model, and how it is run (default: on the voice pool).
        self._turn_model = end_of_turn
        self._turn_inference = turn_inference
        self._end_of_turn: EndOfTurn
        self._meter: WireMeter
        self._speculator: Speculator
        self._awaiting_reply = False
        self._tail: ContactTail
        # Where the speech ended (VAD ms) when the early draft was started.
        self._early_ended_ms: float | None = None

    @property
    def history(self) -> list[Turn]:
        """The conversation as the brain sees it: what was said, and the tool turns."""
        return list(self._history)

    def attach_recording(self, recording: Recording) -> None:
        """Record both sides of the call (before :meth:`run`)."""
        self._recording = recording

    @property
    def _models(self) -> SpeechModels:
        if self.speech is None:
            raise RuntimeError("a session without speech models runs on a text line only")
        return self.speech

    async def prepare(self) -> None:
        """Get the greeting, and synthesize it if the session has speech models, ahead of
        time (while the phone rings).

        Never raises for a failing stage: the failure is kept and the call, once answered,
        gets the apology instead of the greeting.
        """
        if self._greeting is not None or self._greeting_failure is not None:
            return
        try:
            reply = await run_stage(Stage.BRAIN, self.brain.greet, self.config.limits)
            audio = await self._synthesize_all(reply.text) if self.speech is not None else []
            self._greeting = (reply, audio)
        except StageFailed as failed:
            self._greeting_failure = failed.failure

    async def _synthesize(self, text: str) -> bytes:
        """``text`` spoken, without the quiet an engine puts before a clause (up to 300 ms
        with Piper): every clause the agent says is synthesized here, and dead air at its
        start would add to the gap the contact hears."""
        voice = self.config.agent_voice
        pcm = await run_stage(
            Stage.TTS, lambda: self._models.tts.synthesize(text, voice), self.config.limits
        )
        return trim_leading_quiet(pcm)

    async def _synthesize_all(self, text: str) -> list[tuple[str, bytes]]:
        return [(part, await self._synthesize(part)) for part in sentences(text)]

    async def _fail(self, failure: StageFailure) -> None:
        """End the call politely after a stage failed for good: report it, apologise (if
        text-to-speech still works) and hang up once the apology has played."""
        if self.failure is not None:
            return
        self.failure = failure
        if self._text_line is not None:
            await self._say(Reply(APOLOGY, end_call=True))
            return
        voice = self.config.agent_voice
        tts = self._models.tts
        try:
            pcm = await run_stage(
                Stage.TTS,
                lambda: tts.synthesize(APOLOGY, voice),
                self.config.limits,
                retry=False,
            )
        except StageFailed:
            self._hang_up_now = True
            return
        number = self._open_turn(Reply(APOLOGY, end_call=True), planned=1)
        self._playback.enqueue(Speech(number, APOLOGY, pcm))

    async def run(self, transport: MediaTransport) -> CallMetrics:
        """Hold the conversation on an audio transport until either side hangs up; returns
        the latency figures. Needs the speech models (``stt``, ``tts``, ``vad``)."""
        models = self._models
        self._meter = WireMeter(self._recording)
        self._aligner = Aligner(self._meter)
        self._tail = ContactTail()
        # Agent speech is resampled to the line's rate once per utterance, as it is queued.
        self._playback = Playback(
            line_rate=transport.line_rate, block_ms=self.config.media_block_ms
        )
        self._inbox = asyncio.Queue()
        self._speculator = Speculator(
            self.brain,
            Work(
                transcribe=self._transcribe_timed,
                synthesize=self._synthesize,
                clauses=self._clauses,
                clock=self._clock,
            ),
        )
        self._end_of_turn = EndOfTurn(
            self._turn_model,
            self._turn_over,
            self._agent_said_last,
            clock=self._clock,
            sleep=self._sleep,
            policy=self.config.turn_policy,
            infer=self._turn_inference,
            words=self._speculator.words,
        )
        self._transport = transport
        self._hearing = self._streamed_hearing(models.stt)
        self._gate = gate = BargeInGate(models.stt, self.config.barge_in)
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
                hearing = group.create_task(self._hear_streamed())
                await _first_done(clock, listener)
                await self._stop_hearing()
                for task in (clock, listener, responder, hearing):
                    task.cancel()
        finally:
            await self._stop_hearing()
            gate.close()
            self._end_of_turn.close()
            self.metrics.held_for_words = self._end_of_turn.held_for_words
            self._speculator.drop()
            self._flush_turns(final=True)
            self._aligner.close()
            self._measure_wire_gaps()
            await self._write_finished_turns(final=True)
            await self._transcribe_leftovers(models.stt)
            await self._report_failure()
            await self._settle_notes()
        return self.metrics

    async def run_text(self, line: AgentLine) -> CallMetrics:
        """Hold the conversation on a text line until either side hangs up.

        The same turns as :meth:`run`, but each reply is said whole with ``line.say`` (which
        takes as long as saying it would, and reports how much was said before the contact
        cut in) and each contact turn arrives as words: no media clock, no VAD, no speech
        models. The session is over when the line closes or the agent hangs up.
        """
        await self.prepare()
        self._text_line = line
        self._answered_at = self._last_activity = self._clock()
        try:
            if self._greeting is not None:
                greeting, self._greeting = self._greeting[0], None
                await self._say(greeting)
            elif self._greeting_failure is not None:
                await self._fail(self._greeting_failure)
            if not self._over:
                await self._respond()
        except LineClosed:
            pass
        finally:
            await self._write_finished_turns(final=True)
            await self._report_failure()
            await self._settle_notes()
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

    async def _transcribe_leftovers(self, stt: SpeechToText) -> None:
        """The contact's last words, heard but not yet transcribed when the line closed."""
        leftovers: list[HeardAudio | HeardText | Silence] = (
            [self._in_flight] if self._in_flight else []
        )
        if (held := self._end_of_turn.take()) is not None:
            leftovers.append(held)
        while not self._inbox.empty():
            leftovers.append(self._inbox.get_nowait())
        leftovers += self._heard_last
        self._in_flight = None
        for item in leftovers:
            if isinstance(item, HeardText):
                timestamp = round(max(0.0, item.started_at - self._answered_at), 3)
                await self.transcript.add("contact", item.text, timestamp)
            elif isinstance(item, HeardAudio):
                try:
                    text = await run_stage(
                        Stage.STT, partial(stt.transcribe, item.pcm), self.config.limits
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
        marks: TurnMarks | None = None,
    ) -> int:
        """Start an agent turn of ``planned`` utterances (enqueued as they are synthesized)."""
        number = self._next_turn
        self._next_turn += 1
        self._turns[number] = AgentTurn(pending=planned, marks=marks)
        if reply is not None:
            self._history.append(Utterance("agent", reply.text))
            if reply.end_call:
                self._hangup_after = number
        return number

    async def _media_clock(self, transport: MediaTransport) -> None:
        # One agent block per tick of the event loop's shared ticker (voice.ticker: 20 ms,
        # or the block's length), on this session's clock and sleep: no timer of its own.
        vad = self._models.vad
        gate = self._gate
        assert gate is not None
        period = self.config.media_block_ms / 1000
        seat = shared_ticker(
            self._clock, self._sleep, self.config.media_phases, period=period
        ).join()
        try:
            while not transport.closed:
                played = self._playback.next_played()
                speech = played.utterance
                gate.played(played.pcm, speech.text if speech is not None else None)
                if speech is not None:
                    self._on_played(speech)
                try:
                    await transport.send(played.line)
                except LineClosed:
                    return
                self._aligner.agent(played.pcm)
                self._flush_turns()
                if self._end_reached():
                    # The last turn is in the transcript before the call ends.
                    await self._write_finished_turns()
                    await self._report_failure()
                    await self._report_voicemail()
                    if not self._leave:  # after a transfer the caller stays on the line
                        transport.hangup("agent")
                    return
                self._check_silence(vad)
                await seat.wait()
        finally:
            seat.leave()

    def _on_played(self, speech: Speech) -> None:
        self._turn_started(speech.turn)
        self._last_activity = self._clock()

    def _turn_started(self, number: int) -> None:
        """The contact starts hearing turn ``number``: its time and latency are taken."""
        turn = self._turns[number]
        if turn.started_at is None:
            now = self._clock()
            turn.started_at = now
            if number == 0:
                self.metrics.answer_to_first_audio_ms = (turn.started_at - self._answered_at) * 1000
            elif turn.marks is not None and self._text_line is None:
                self._awaiting_reply = False
                agent_at_ms = self._aligner.agent_bytes / BYTES_PER_MS
                self.metrics.turns.append(turn.marks.settle(now, agent_at_ms))

    def _measure_wire_gaps(self) -> None:
        """Each answered turn's gap as measured on the recorded channels (call's end)."""
        for latency in self.metrics.turns:
            if latency.agent_at_ms is not None:
                latency.wire_gap_ms = self._meter.gap(latency.agent_at_ms)

    def _agent_said_last(self) -> str:
        """The agent's last words in the conversation (for the end-of-turn policy)."""
        for turn in reversed(self._history):
            if isinstance(turn, Utterance) and turn.speaker == "agent":
                return turn.text
        return ""

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
        return (
            self._leave or self._hang_up_now or (self._goodbye_said() and not self._playback.active)
        )

    def _goodbye_said(self) -> bool:
        """Whether the turn that ends the call has been said (or cut) to its end."""
        if self._hangup_after is None:
            return False
        turn = self._turns.get(self._hangup_after)
        return turn is not None and turn.pending <= 0

    def _check_silence(self, vad: StreamingVad) -> None:
        if self._playback.active or vad.speaking or self._responding:
            return
        if self._end_of_turn.pending:
            return
        if not self._inbox.empty() or self._hangup_after is not None:
            return
        if self._clock() - self._last_activity >= self.config.silence_timeout_s:
            self._last_activity = self._clock()
            self._inbox.put_nowait(Silence())

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
        # Backchannels said over the agent follow the turn they were said during.
        if self._gate is not None and (final or all(t.written for t in self._turns.values())):
            for text, started_at in self._gate.take_backchannels():
                timestamp = round(max(0.0, started_at - self._answered_at), 3)
                await self.transcript.add("contact", text, timestamp)

    # Listening.

    async def _listen(self, transport: MediaTransport) -> None:
        vad = self._models.vad
        gate = self._gate
        assert gate is not None
        frames = self.config.media_block_ms // FRAME_MS
        line_closed = False
        while not line_closed:
            try:
                frame = await transport.receive()
            except LineClosed:
                return
            if frames > 1:  # a block of the contact's frames, heard as one
                pieces = [frame.pcm]
                try:
                    while len(pieces) < frames:
                        pieces.append((await transport.receive()).pcm)
                except LineClosed:
                    line_closed = True  # the last, short block is heard all the same
                frame = AudioFrame(b"".join(pieces))
            self._aligner.contact(frame.pcm)
            if self._hearing is not None:
                self._hearing.feed(frame.pcm)
            self._tail.feed(frame.pcm)
            self._end_of_turn.listen(frame.pcm)
            beep = self._beep_detector
            if beep is not None and self._beep_heard is not None and beep.feed(frame.pcm):
                self._beep_heard.set()
            # Awaited: a batching VAD scores this window with other calls' (vad_batch).
            for event in await vad.hear(gate.clean(frame.pcm)):
                now = self._clock()
                endpointer = vad.endpointer
                behind = (endpointer.position_ms - (endpointer.speech_started_ms or 0.0)) / 1000
                if event is SPEECH_START:
                    self._end_of_turn.started()
                    self._speculator.drop()
                    if self._awaiting_reply:
                        self._awaiting_reply = False
                        self.metrics.early_turn_ends += 1
                    self._speech_started_at = now - behind
                    self._last_activity = now
                    if self._playback.active and not self._saying_goodbye():
                        # Hold while the gate judges it: see voxline.voice.barge_in.
                        self._playback.hold()
                        gate.open_at(vad, self._playback.remaining_s)
                elif event is SPEECH_END:
                    pcm = vad.take_utterance()
                    ended = (endpointer.speech_ended_ms or endpointer.position_ms) / 1000
                    wait_s = endpointer.position_ms / 1000 - ended
                    self._last_activity = now
                    if pcm:
                        marks = TurnMarks.at_stop(now, self._tail, self._aligner, vad)
                        heard = HeardAudio(
                            pcm, self._speech_started_at, now - wait_s, wait_s * 1000, marks
                        )
                        if gate.open:  # said over the agent: the barge-in gate judges it
                            gate.ended(heard, vad)
                        elif self._hearing is None:  # else the streaming engine ends turns
                            self._end_of_turn.stopped(heard)
                            self._speculate(heard)
            self._speculate_early(vad, gate)
            await self._judge_barge_in(transport, gate, vad)

    async def _judge_barge_in(
        self, transport: MediaTransport, gate: BargeInGate, vad: StreamingVad
    ) -> None:
        """Act on the gate's decision about speech over the agent, if there is one: stop the
        turn on an interruption, go on otherwise."""
        decision = gate.poll(vad)
        if decision is None:
            return
        if decision.verdict is Verdict.INTERRUPT:
            if decision.heard is not None:
                self._turn_over_agent(decision.heard)
            if self._playback.active and not self._saying_goodbye():
                await self._barge_in(transport)
                return
        if decision.resume or decision.verdict is Verdict.INTERRUPT:
            self._playback.resume()
        if decision.verdict is Verdict.BACKCHANNEL and decision.heard is not None:
            if not self._responding and decision.agent_left_s < ANSWER_WITHIN_S:
                # Said as the agent's turn was ending: an answer ("yes"), not a backchannel.
                self._playback.resume()
                self._turn_over_agent(decision.heard)
                return
            gate.keep(decision)
        if decision.heard is not None:  # the verdict on the whole utterance, once
            self._note("barge_in_ignored", {"verdict": decision.verdict.value})

    def _turn_over_agent(self, heard: HeardAudio) -> None:
        """Answer what the contact said over the agent. With a streaming speech-to-text the
        engine ends that turn itself (:meth:`_hear_streamed`), so it is not queued twice."""
        if self._hearing is None:
            self._turn_over(heard)

    def _streamed_hearing(self, stt: SpeechToText) -> StreamedHearing | None:
        """With a streaming speech-to-text, the engine hears the call and ends the contact's
        turns (:mod:`voxline.voice.hearing`); a batch engine leaves that to the VAD."""
        if not isinstance(stt, StreamingSpeechToText):
            return None
        return StreamedHearing(stt, clock=self._clock, deliver=self._inbox.put_nowait)

    async def _hear_streamed(self) -> None:
        """Run the streaming engine's hearing, if any; an engine that fails for good ends
        the call like any failed stage."""
        if self._hearing is None:
            return
        try:
            await self._hearing.run()
        except StageFailed as failed:
            await self._fail(failed.failure)

    async def _stop_hearing(self) -> None:
        """Close the streaming engine's stream (again: a no-op); the turns it settled on
        closing are kept for :meth:`_transcribe_leftovers`."""
        if self._hearing is not None:  # kept: the VAD's ends of speech stay no turn
            self._heard_last += await self._hearing.close()

    def _turn_over(self, heard: HeardAudio) -> None:
        """The end-of-turn gate let ``heard`` through: answer it."""
        self._awaiting_reply = True
        self._inbox.put_nowait(heard)

    def _speculate(self, heard: HeardAudio) -> None:
        """Start answering ``heard`` while the end of the turn is decided, when nothing else
        is going on (voice.speculation); a draft started early for it becomes its own."""
        may = self._may_speculate()
        if self._speculator.early and not (may and self._early_draft_holds(self._models.vad)):
            self._speculator.drop()  # drafted for speech that went on, or not to be used now
        if may:
            self._speculator.start(heard, self._history)

    def _early_draft_holds(self, vad: StreamingVad) -> bool:
        """Whether a draft started early (if any) is still for the speech being heard: no
        speech since it started (the VAD goes back to speech inside its hang-over without
        a ``SPEECH_START``)."""
        if not self._speculator.early:
            return True
        endpointer = vad.endpointer
        return (
            endpointer.state is not EndpointState.SPEECH
            and endpointer.speech_ended_ms == self._early_ended_ms
        )

    def _may_speculate(self) -> bool:
        if self._responding or not self._inbox.empty() or self._playback.active:
            return False
        return self._hangup_after is None and self.failure is None

    def _speculate_early(self, vad: StreamingVad, gate: BargeInGate) -> None:
        """``early_draft_ms`` into the silence after speech, before the VAD's stop, start
        drafting the answer to what was said so far (once per silence). Not for the second
        part of a held turn (its draft needs the first part's audio too: it starts at the
        stop), nor for speech over the agent (the barge-in gate judges that)."""
        early_ms = self.config.early_draft_ms
        endpointer = vad.endpointer
        if not self._early_draft_holds(vad):
            self._speculator.drop()  # the contact went on before the stop
        if early_ms is None or endpointer.state is not EndpointState.HANGOVER:
            return
        ended = endpointer.speech_ended_ms
        if ended is None or endpointer.position_ms - ended < early_ms:
            return
        if self._speculator.early or gate.open or self._hearing is not None:
            return
        if self._end_of_turn.pending or not self._may_speculate():
            return
        self._early_ended_ms = ended
        self._speculator.start_early(vad.utterance_so_far(), self._history)

    async def _transcribe(self, pcm: bytes) -> str:
        transcribe = partial(self._models.stt.transcribe, pcm)
        return await run_stage(Stage.STT, transcribe, self.config.limits)

    async def _transcribe_timed(self, pcm: bytes) -> Transcript:
        """A draft's transcript, its words timed when the engine can (for the end-of-turn
        gate to tell the words said from words guessed after a cut)."""
        stt = self._models.stt
        if isinstance(stt, TimedSpeechToText):
            timed = partial(stt.transcribe_timed, pcm)
            return await run_stage(Stage.STT, timed, self.config.limits)
        return Transcript(await self._transcribe(pcm))

    def _clauses(self, history: Sequence[Turn]) -> AsyncIterator[str | EndCall | ToolCall]:
        """The streaming brain's reply to ``history``, clause by clause, each in time."""
        assert isinstance(self.brain, StreamingBrain)
        pieces = split_clauses(self.brain.stream(list(history)))
        return each_within(pieces, self.config.limits.timeout(Stage.BRAIN))

    async def _barge_in(self, transport: MediaTransport) -> None:
        """The contact talks over the agent: stop speaking now, drop the rest of the turn."""
        self._playback.cut()
        self._cut_short()
        self._flush_turns()
        await transport.clear()

    def _saying_goodbye(self) -> bool:
        """Whether the agent is saying the turn that ends the call: a goodbye is said to
        its end, whoever talks over it."""
        queue = self._playback.queue
        return bool(queue) and queue[0].turn == self._hangup_after

    def _cut_short(self, said: int | None = None) -> None:
        """The contact talked over the agent: the turns being said end where they are.

        A goodbye that was being said (``said``, on a text line) still ends the call; one
        that had not started yet is dropped, and the contact is heard out first. A cut
        apology still ends the call: the agent cannot go on.
        """
        self.metrics.barge_ins += 1
        self._note("barge_in", {})
        for turn in self._turns.values():
            if turn.pending > 0:
                turn.cut = True
        if self.failure is None and self._hangup_after != said:
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
        while self.failure is None and not self._over:
            item = await self._next_item()
            self._responding = True
            try:
                await self._write_finished_turns()
                if isinstance(item, Silence):
                    silences += 1
                    on_silence = partial(self.brain.on_silence, silences)
                    await self._say(await run_stage(Stage.BRAIN, on_silence, limits))
                    continue
                silences = 0
                marks: TurnMarks | None = None
                draft: Draft | None = None
                if isinstance(item, Heard):
                    text = item.text.strip()  # no audio: no latency figures
                elif isinstance(item, HeardText):  # transcribed as it was said: no STT stage
                    text = item.text
                    marks = TurnMarks.streamed(
                        self._clock(), self._tail, self._aligner, item.endpoint_wait_ms
                    )
                else:
                    marks = item.marks
                    self._in_flight = item
                    draft = await self._speculator.take(item)
                    if draft is not None:  # heard while the end of the turn was decided
                        text = draft.text
                        if marks is not None:
                            marks.speculated = True
                            marks.stt_started_at = draft.stt_started_at
                            marks.stt_done_at = draft.stt_done_at
                    else:
                        if marks is not None:
                            marks.stt_started_at = self._clock()
                        text = (await self._transcribe(item.pcm)).strip()
                        if marks is not None:
                            marks.stt_done_at = self._clock()
                if not text:
                    self._in_flight = None
                    continue
                await self.transcript.add(
                    "contact", text, round(max(0.0, item.started_at - self._answered_at), 3)
                )
                self._in_flight = None
                self._history.append(Utterance("contact", text))
                await self._answer(marks, draft)
            finally:
                self._responding = False
                if self._text_line is None and self._inbox.empty():
                    self._awaiting_reply = False  # answered (or nothing to answer)

    async def _answer(self, marks: TurnMarks | None, draft: Draft | None = None) -> None:
        """The agent's turn: its reply and the tools it calls, round after round, until it
        has said what it had to, listens (after keys), or left the call.

        Audio with a streaming brain speaks while the brain writes; a text line says each
        reply whole, so there a reply is awaited.
        """
        if draft is not None and (not draft.usable or draft.history_len + 1 != len(self._history)):
            await draft.close()  # no reply drafted, or drafted for another conversation
            draft = None
        if self._hangup_after is not None:
            if draft is not None:
                await draft.close()
            return  # the goodbye is being said: what the contact said is kept, not answered
        streaming = self._text_line is None and isinstance(self.brain, StreamingBrain)
        for round_ in range(MAX_TOOL_ROUNDS + 2):
            if isinstance(self.brain, StreamingBrain) and streaming:
                said, calls = await self._say_streamed(self.brain, marks, draft)
            elif draft is not None and draft.reply is not None:
                reply = draft.reply
                if marks is not None:
                    marks.first_clause_at = draft.first_clause_at
                await self._say(reply, marks, draft)
                said, calls = reply.text, reply.tool_calls
            else:
                respond = partial(self.brain.respond, list(self._history))
                retry = draft is None or draft.failed is None  # a failure ahead was one try
                reply = await run_stage(Stage.BRAIN, respond, self.config.limits, retry=retry)
                if marks is not None:
                    marks.first_clause_at = self._clock()
                await self._say(reply, marks)
                said, calls = reply.text, reply.tool_calls
            if not calls or self._over or self._leave or self.failure is not None:
                return
            if round_ > MAX_TOOL_ROUNDS:
                return  # told it called too many; what it said is all it says
            if not await self._act(said, calls, last_round=round_ == MAX_TOOL_ROUNDS):
                return
            marks = draft = None

    # Acting: the tools the brain calls.

    def _note(self, kind: str, data: dict[str, object]) -> None:
        """Put ``kind`` on the call's timeline (in the background; best effort)."""
        timeline = self.tools.timeline if self.tools is not None else None
        if timeline is None:
            return
        data = {**data, "offset_s": round(max(0.0, self._clock() - self._answered_at), 3)}
        task = asyncio.get_running_loop().create_task(timeline.record(kind, data))
        self._notes.add(task)
        task.add_done_callback(self._notes.discard)

    async def _settle_notes(self) -> None:
        if self._notes:
            await asyncio.gather(*list(self._notes), return_exceptions=True)

    async def _act(self, said: str, calls: tuple[ToolCall, ...], *, last_round: bool) -> bool:
        """Run one round of tool calls (HTTP tools together, then the built-ins in order),
        keep them and their results in the history; whether the agent speaks next."""
        results: dict[str, ToolResult] = {}
        speak = False
        if last_round:
            for call in calls:
                results[call.id] = error_result(call, "too many tool calls in one turn")
            speak = True
        else:
            http = [c for c in calls if c.name not in _BUILTINS]
            if http:
                for result in await self._run_http(http):
                    results[result.call_id] = result
                speak = True
            for call in calls:
                if call.name in _BUILTINS:
                    result, speak_after = await self._run_builtin(call)
                    results[call.id] = result
                    speak = speak or speak_after
        last = self._history[-1] if self._history else None
        if isinstance(last, Utterance) and last.speaker == "agent" and last.text == said:
            self._history.pop()
        self._history.append(ToolTurn(said, calls, tuple(results[c.id] for c in calls)))
        return speak and not self._leave and not self._over

    async def _run_http(self, calls: list[ToolCall]) -> list[ToolResult]:
        """Run HTTP tool calls together; a filler line is said if they are slow."""
        tools = self.tools
        if tools is None:
            return [error_result(c, f"there is no tool named {c.name!r}") for c in calls]
        history = list(self._history)
        work: asyncio.Future[list[ToolResult]] = asyncio.ensure_future(
            asyncio.gather(*(self._run_one(tools, call, history) for call in calls))
        )
        filler = tools.filler(calls)
        if filler is not None:
            waiter: asyncio.Future[Any] = asyncio.ensure_future(self._sleep(filler.delay_seconds))
            try:
                await asyncio.wait([work, waiter], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            if not work.done():
                await self._speak(filler.text)
        return list(await work)

    async def _run_one(
        self, tools: SessionTools, call: ToolCall, history: list[Turn]
    ) -> ToolResult:
        started = time.perf_counter()
        result = await tools.run_http(call, history, self._sleep)
        self._note_tool_call(call, result, started, failed='"error"' in result.content[:10])
        return result

    def _note_tool_call(
        self, call: ToolCall, result: ToolResult, started: float, *, failed: bool
    ) -> None:
        self._note(
            "tool_call",
            {
                "name": call.name,
                "tool_call_id": call.id,
                "arguments": call.arguments[:TIMELINE_TEXT_MAX],
                "result": result.content[:TIMELINE_TEXT_MAX],
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "outcome": "error" if failed else "ok",
            },
        )

    async def _run_builtin(self, call: ToolCall) -> tuple[ToolResult, bool]:
        """A built-in tool call's result, and whether the agent speaks after it."""
        tools = self.tools
        started = time.perf_counter()
        if call.name == BuiltinTool.END_CALL:
            if self._next_turn:
                self._hangup_after = self._next_turn - 1
            return json_result(call, {"ok": True}), False
        if tools is None or not tools.enabled(call.name):
            return error_result(call, f"{call.name} is not enabled for this agent"), True
        try:
            arguments = parse_arguments(call)
            if call.name == BuiltinTool.TRANSFER_CALL:
                value = await self._transfer(tools, arguments)
                speak = False
            elif call.name == BuiltinTool.SEND_DTMF:
                value = await self._press(tools, arguments)
                speak = False
            else:
                value = await self._leave_voicemail(tools)
                speak = False
            result = json_result(call, value)
        except ToolFailed as exc:
            result, speak = error_result(call, str(exc)), True
        self._note_tool_call(call, result, started, failed=speak)
        return result, speak

    async def _transfer(self, tools: SessionTools, arguments: dict[str, object]) -> object:
        settings = tools.agent.transfer
        assert settings is not None
        choices = [d.to for d in settings.destinations]
        destination = arguments.get("destination") or (choices[0] if len(choices) == 1 else None)
        if destination not in choices:
            raise ToolFailed(f"destination must be one of: {', '.join(choices)}")
        assert isinstance(destination, str)
        if tools.control is None:
            raise ToolFailed("this call cannot be transferred")
        if settings.message:
            await self._until_said(await self._speak(settings.message))
        try:
            await tools.control.transfer(destination)
        except ToolFailed as exc:
            self._note("transfer", {"to": destination, "status": "failed", "error": str(exc)})
            raise
        self._note("transfer", {"to": destination, "status": "completed"})
        self._leave = True
        if self._text_line is not None:
            self._over = True
        return {"transferred": True, "destination": destination}

    async def _press(self, tools: SessionTools, arguments: dict[str, object]) -> object:
        digits = arguments.get("digits")
        if not isinstance(digits, str) or not _DIGITS.fullmatch(digits):
            raise ToolFailed("digits must be 1 to 32 of 0-9, *, #, w (a pause)")
        sent = tools.control is not None and await tools.control.send_digits(digits)
        if not sent:
            await self._play_tones(digits)
        self._note("dtmf", {"digits": digits, "via": "carrier" if sent else "tones"})
        return {"sent": digits}

    async def _play_tones(self, digits: str) -> None:
        """Keys as tones in the call's audio (or pressed on a text line)."""
        if self._text_line is not None:
            await self._text_line.press(digits)
            return
        from voxline.voice.dtmf import tones

        number = self._open_turn(None, planned=1)
        self._playback.enqueue(Speech(number, "", tones(digits)))
        await self._until_said(number)

    async def _leave_voicemail(self, tools: SessionTools) -> object:
        voicemail = tools.agent.voicemail
        assert voicemail is not None
        beep = await self._await_beep()
        self._voicemail_pending = True
        await self._say(Reply(voicemail.message, end_call=True))
        return {"left": True, "beep_heard": beep}

    async def _await_beep(self) -> bool:
        """Wait (at most :data:`BEEP_WAIT_SECONDS`) for a voicemail's beep; whether it came."""
        deadline = self._clock() + BEEP_WAIT_SECONDS
        if self._text_line is not None:
            while (left := deadline - self._clock()) > 0:
                heard = await self._text_line.listen(left)
                if heard is None:
                    return False
                if "beep" in heard.text.lower():
                    return True
            return False
        from voxline.voice.dtmf import BeepDetector

        self._beep_heard = asyncio.Event()
        self._beep_detector = BeepDetector()
        try:
            while not self._beep_heard.is_set() and self._clock() < deadline:
                if self._transport is not None and self._transport.closed:
                    return False
                await self._sleep(FRAME_MS / 1000)
            return self._beep_heard.is_set()
        finally:
            self._beep_detector = None
            # What the machine said before the beep is not a turn to answer.
            while not self._inbox.empty():
                self._inbox.get_nowait()

    async def _report_voicemail(self) -> None:
        """Tell the call's control (once) that the voicemail message was left."""
        if not self._voicemail_pending:
            return
        self._voicemail_pending = False
        control = self.tools.control if self.tools is not None else None
        if control is not None:
            try:
                await control.voicemail_left()
            except Exception:
                log.exception("recording a voicemail drop failed")

    async def _speak(self, text: str) -> int:
        """Say ``text`` as a turn of its own, outside the conversation the brain sees (a
        filler, a transfer's announcement); its turn number."""
        if self._text_line is not None:
            number = self._open_turn(None, planned=1)
            await self._say_on_line(self._text_line, number, text)
            return number
        audio = await self._synthesize_all(text)
        number = self._open_turn(None, planned=len(audio))
        for part, pcm in audio:
            self._playback.enqueue(Speech(number, part, pcm))
        return number

    async def _until_said(self, number: int) -> None:
        """Wait until turn ``number`` has been played (or cut); at once on a text line."""
        while (turn := self._turns.get(number)) is not None and turn.pending > 0:
            if self._transport is None or self._transport.closed:
                return
            await self._sleep(FRAME_MS / 1000)

    async def _say(
        self, reply: Reply, marks: TurnMarks | None = None, draft: Draft | None = None
    ) -> None:
        """Speak ``reply`` sentence by sentence: each plays as soon as it is synthesized (on
        a text line: say it whole)."""
        if not reply.text.strip() and reply.tool_calls:
            self._history.append(Utterance("agent", ""))  # it only acts
            return
        if self._text_line is not None:
            number = self._open_turn(reply, planned=1, marks=marks)
            await self._say_on_line(self._text_line, number, reply.text)
            return
        parts = sentences(reply.text)
        number = self._open_turn(reply, planned=len(parts), marks=marks)
        turn = self._turns[number]
        for index, part in enumerate(parts):
            if turn.cut:
                turn.pending -= 1
                continue
            if index == 0 and draft is not None and draft.first_pcm is not None:
                pcm = draft.first_pcm  # synthesized while the turn was decided
                if marks is not None:
                    _queued(marks, draft.queued_at or self._clock(), pcm)
                self._playback.enqueue(Speech(number, part, pcm))
                continue
            pcm = await self._synthesize(part)
            if index == 0 and marks is not None:
                _queued(marks, self._clock(), pcm)
            if turn.cut:
                turn.pending -= 1
                continue
            self._playback.enqueue(Speech(number, part, pcm))

    async def _say_on_line(self, line: AgentLine, number: int, text: str) -> None:
        """Say turn ``number`` on a text line; once it is said, hang up if it ends the call."""
        turn = self._turns[number]
        self._turn_started(number)
        spoken = await line.say(text)
        if spoken.text:
            turn.spoken.append(spoken.text)
        if spoken.interrupted:
            self._cut_short(said=number)
        turn.pending -= 1
        self._last_activity = self._clock()
        await self._write_finished_turns()
        if self._goodbye_said():
            await self._report_failure()
            await self._report_voicemail()
            line.hangup("agent")
            self._over = True
        del self._turns[number]  # written: a long call keeps no turn it is done with

    async def _next_item(self) -> HeardAudio | HeardText | Heard | Silence:
        """The contact's next turn: heard by the VAD (audio), or from the text line, where
        a silence is ``listen`` waiting out the silence timeout."""
        if self._text_line is None:
            return await self._inbox.get()
        heard = await self._text_line.listen(self.config.silence_timeout_s)
        return Silence() if heard is None else heard

    async def _say_streamed(
        self, brain: StreamingBrain, marks: TurnMarks | None, draft: Draft | None = None
    ) -> tuple[str, tuple[ToolCall, ...]]:
        """Speak a reply while the brain is still writing it, clause by clause; what was
        said and the tools the reply calls.

        A stream that fails before its first clause is asked once more; once something was
        said, a failure ends the call (a repeated stream would say it twice).
        """
        number = self._open_turn(None, planned=1, marks=marks)
        turn = self._turns[number]
        said: list[str] = []
        calls: list[ToolCall] = []
        end_call = False
        timeout_s = self.config.limits.timeout(Stage.BRAIN)
        try:
            failed_ahead = draft is not None and draft.failed is not None
            for attempt in (2,) if failed_ahead else (1, 2):
                ready: bytes | None = None
                if attempt == 1 and draft is not None:
                    pieces = draft.stream()  # the drafted start, then the same stream
                    ready = draft.first_pcm
                else:
                    pieces = split_clauses(brain.stream(list(self._history)))
                try:
                    async for piece in each_within(pieces, timeout_s):
                        if isinstance(piece, EndCall):
                            end_call = True
                            continue
                        if isinstance(piece, ToolCall):
                            calls.append(piece)
                            continue
                        if not said and marks is not None:
                            drafted = ready is not None and draft is not None
                            marks.first_clause_at = (
                                draft.first_clause_at if drafted and draft else self._clock()
                            )
                        said.append(piece)
                        if turn.cut:
                            continue
                        if len(said) == 1 and ready is not None and draft is not None:
                            pcm, ready = ready, None
                            queued = draft.queued_at or self._clock()
                        else:
                            pcm = await self._synthesize(piece)
                            queued = self._clock()
                        if len(said) == 1 and marks is not None:
                            _queued(marks, queued, pcm)
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
                    if said or end_call or calls or attempt == 2:
                        raise StageFailed(describe(Stage.BRAIN, exc, timeout_s)) from exc
            if end_call and not said and not calls:
                said.append(FAREWELL)
                turn.pending += 1
                pcm = await self._synthesize(FAREWELL)
                self._playback.enqueue(Speech(number, FAREWELL, pcm))
        finally:
            turn.pending -= 1  # the stream itself is done
            self._history.append(Utterance("agent", " ".join(said)))
            if end_call and not turn.cut and not calls:
                self._hangup_after = number
        return " ".join(said), tuple(calls)


_BUILTINS = frozenset(t.value for t in BuiltinTool)


class _Detector(Protocol):
    def feed(self, pcm: bytes) -> bool: ...


_DIGITS = re.compile(r"[0-9*#wW]{1,32}")


def _queued(marks: TurnMarks, now: float, pcm: bytes) -> None:
    """The reply's first clause is synthesized and queued to play."""
    marks.queued_at = now
    marks.tts_lead_ms = leading_quiet_ms(pcm)


async def _first_done(*tasks: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
