"""A live call's voice session: the agent listens, thinks and speaks on a media transport.

One :class:`CallSession` per call owns, in one task group, the media clock (one agent frame
out every 20 ms, silence when idle), the listener (VAD endpointing on the contact's audio,
barge-in) and the responder (STT, brain, TTS clause by clause). The transcript is written
turn by turn; an agent turn cut short by barge-in is stored as far as it was played. The
recording (agent left, contact right) and the latency figures are kept as the call goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from voxline.voice.brain.base import Brain, EndCall, Reply, StreamingBrain, Utterance
from voxline.voice.brain.clauses import split_clauses
from voxline.voice.brain.scripted import FAREWELL
from voxline.voice.channel import LineClosed
from voxline.voice.frames import FRAME_MS, AudioFrame
from voxline.voice.metrics import CallMetrics, TurnLatency
from voxline.voice.playback import Playback
from voxline.voice.playback import Utterance as Speech
from voxline.voice.stt.base import SpeechToText
from voxline.voice.text_session import TranscriptSink
from voxline.voice.transport import MediaTransport
from voxline.voice.tts.base import TextToSpeech
from voxline.voice.vad import SPEECH_END, SPEECH_START, StreamingVad

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
    ) -> None:
        self.brain = brain
        self.stt = stt
        self.tts = tts
        self.vad = vad
        self.transcript = transcript
        self.config = config or SessionConfig()
        self.metrics = CallMetrics()
        self._clock = clock or asyncio.get_event_loop().time
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

    def attach_recording(self, recording: Recording) -> None:
        """Record both sides from now on (before :meth:`run`)."""
        self._aligner = _Aligner(recording)

    async def prepare(self) -> None:
        """Synthesize the greeting ahead of time (while the phone rings)."""
        if self._greeting is None:
            reply = await self.brain.greet()
            self._greeting = (reply, await self._synthesize_all(reply.text))

    async def _synthesize_all(self, text: str) -> list[tuple[str, bytes]]:
        voice = self.config.agent_voice
        return [(part, await self.tts.synthesize(part, voice)) for part in sentences(text)]

    async def run(self, transport: MediaTransport) -> CallMetrics:
        """Hold the conversation until either side hangs up; returns the latency figures."""
        await self.prepare()
        self._answered_at = self._last_activity = self._clock()
        assert self._greeting is not None
        reply, audio = self._greeting
        turn = self._open_turn(reply, planned=len(audio))
        for text, pcm in audio:
            self._playback.enqueue(Speech(turn, text, pcm))
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
        return self.metrics

    async def _transcribe_leftovers(self) -> None:
        """The contact's last words, heard but not yet transcribed when the line closed."""
        leftovers: list[_Heard | _Silence] = [self._in_flight] if self._in_flight else []
        while not self._inbox.empty():
            leftovers.append(self._inbox.get_nowait())
        self._in_flight = None
        for item in leftovers:
            if isinstance(item, _Heard):
                text = (await self.stt.transcribe(item.pcm)).strip()
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
                transport.hangup("agent")
                return
            self._check_silence()
            next_tick += period
            await asyncio.sleep(max(0.0, next_tick - self._clock()))

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
        # A cut goodbye is not a goodbye: the contact is heard out first.
        self._hangup_after = None

    # Thinking.

    async def _respond(self) -> None:
        silences = 0
        while True:
            item = await self._inbox.get()
            self._responding = True
            try:
                await self._write_finished_turns()
                if isinstance(item, _Silence):
                    silences += 1
                    await self._say(await self.brain.on_silence(silences))
                    continue
                silences = 0
                started = self._clock()
                self._in_flight = item
                text = (await self.stt.transcribe(item.pcm)).strip()
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
                reply = await self.brain.respond(self._history)
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
            pcm = await self.tts.synthesize(part, self.config.agent_voice)
            if index == 0 and latency is not None:
                latency.tts_ms = (self._clock() - started) * 1000
            if turn.cut:
                turn.pending -= 1
                continue
            self._playback.enqueue(Speech(number, part, pcm))

    async def _say_streamed(
        self, brain: StreamingBrain, latency: TurnLatency, last_word_at: float
    ) -> None:
        """Speak a reply while the brain is still writing it, clause by clause."""
        number = self._open_turn(None, planned=1, latency=latency, last_word_at=last_word_at)
        turn = self._turns[number]
        thinking = self._clock()
        said: list[str] = []
        end_call = False
        try:
            async for piece in split_clauses(brain.stream(list(self._history))):
                if isinstance(piece, EndCall):
                    end_call = True
                    continue
                if not said:
                    latency.brain_ms = (self._clock() - thinking) * 1000
                said.append(piece)
                if turn.cut:
                    continue
                started = self._clock()
                pcm = await self.tts.synthesize(piece, self.config.agent_voice)
                if len(said) == 1:
                    latency.tts_ms = (self._clock() - started) * 1000
                if not turn.cut:
                    turn.pending += 1
                    self._playback.enqueue(Speech(number, piece, pcm))
            if end_call and not said:
                said.append(FAREWELL)
                turn.pending += 1
                pcm = await self.tts.synthesize(FAREWELL, self.config.agent_voice)
                self._playback.enqueue(Speech(number, FAREWELL, pcm))
        finally:
            turn.pending -= 1  # the stream itself is done
            self._history.append(Utterance("agent", " ".join(said)))
            if end_call and not turn.cut:
                self._hangup_after = number


async def _first_done(*tasks: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
