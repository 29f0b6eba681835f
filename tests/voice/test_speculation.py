"""Answering ahead while the end of the turn is decided (voice.speculation), on fakes and a
virtual clock: a contact pauses mid-sentence, the end-of-turn model is unsure at the pause
and sure at the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from voxline.errors import ProviderError
from voxline.testing import FakeTts, MemoryTranscript, VirtualClock, fake_vad
from voxline.testing.speech import tone
from voxline.voice.brain.base import AgentProfile, EndCall, Reply, ToolCall, Turn, Utterance
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.channel import LineClosed
from voxline.voice.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, AudioFrame
from voxline.voice.metrics import CallMetrics
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.speculation import replayable
from voxline.voice.stages import APOLOGY, Stage

GREETING = "Hello, this is Ava."


@dataclass
class PausingContact:
    """Waits for the greeting, says ``parts`` with ``pause_ms`` between them, hangs up once
    the agent has answered and been quiet for a second."""

    parts: tuple[int, ...] = (600, 500)
    pause_ms: int = 700
    line_rate: int = SAMPLE_RATE
    closed_by: str | None = None
    agent_sound_frames: int = 0
    _script: bytes = b""
    _started: bool = False
    _quiet_ms: int = 0
    _heard_reply: bool = False
    _queue: asyncio.Queue[AudioFrame | None] = field(default_factory=asyncio.Queue)

    @property
    def closed(self) -> bool:
        return self.closed_by is not None

    async def receive(self) -> AudioFrame:
        frame = await self._queue.get()
        if frame is None:
            raise LineClosed
        return frame

    async def send(self, frame: AudioFrame) -> None:
        if self.closed:
            raise LineClosed
        sound = any(frame.pcm)
        self._quiet_ms = 0 if sound else self._quiet_ms + FRAME_MS
        if sound:
            self.agent_sound_frames += 1
            self._heard_reply = self._started and not self._script
        if not self._started and self.agent_sound_frames and self._quiet_ms >= 400:
            self._started = True
            pause = bytes(self.pause_ms * 32)
            self._script = pause.join(tone(ms, frequency=330.0) for ms in self.parts)
        elif self._heard_reply and self._quiet_ms >= 1000:
            self.hangup("contact")
            return
        chunk, self._script = self._script[:FRAME_BYTES], self._script[FRAME_BYTES:]
        self._queue.put_nowait(AudioFrame(chunk.ljust(FRAME_BYTES, b"\0")))

    async def clear(self) -> None:
        return None

    def hangup(self, by: str) -> None:
        if self.closed_by is None:
            self.closed_by = by
            self._queue.put_nowait(None)


@dataclass
class CountingStt:
    """Hears "part" first, then "whole"; a third transcription would be "again"."""

    heard: list[int] = field(default_factory=list)

    async def transcribe(self, pcm16_16k: bytes) -> str:
        self.heard.append(len(pcm16_16k))
        return ("part", "whole", "again")[min(2, len(self.heard) - 1)]


class EchoBrain:
    """Streams "You said <what it heard>." and records each request."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def greet(self) -> Reply:
        return Reply(GREETING)

    async def respond(self, history: Sequence[Turn]) -> Reply:
        raise AssertionError("a streaming brain is streamed")

    async def on_silence(self, attempts: int) -> Reply:
        return Reply("Are you there?")

    async def stream(self, history: Sequence[Turn]) -> AsyncIterator[str | EndCall | ToolCall]:
        last = history[-1]
        assert isinstance(last, Utterance)
        self.asked.append(last.text)
        yield f"You said {last.text.rstrip('.!?')}."


class ReplayableEchoBrain(EchoBrain):
    replayable = True


class UnsureThenSure:
    """The end-of-turn model: unsure at the first stop, sure at the next."""

    def __init__(self) -> None:
        self.calls = 0

    def probability(self, pcm16_16k: bytes) -> float:
        self.calls += 1
        return 0.1 if self.calls == 1 else 0.95


async def _inline(func: Callable[[bytes], float], audio: bytes) -> float:
    return func(audio)


@dataclass
class Outcome:
    metrics: CallMetrics
    transcript: MemoryTranscript
    stt: CountingStt
    tts: FakeTts
    session: CallSession


async def converse(
    brain: EchoBrain | ScriptedBrain,
    *,
    hangs_up: bool = True,
    stt: CountingStt | None = None,
    model: UnsureThenSure | None = None,
    early_draft_ms: float | None = 96.0,
    line: PausingContact | None = None,
) -> Outcome:
    clock = VirtualClock()
    stt, tts, transcript = stt or CountingStt(), FakeTts(), MemoryTranscript()
    session = CallSession(
        brain=brain,
        stt=stt,
        tts=tts,
        vad=fake_vad(hangover_ms=192),
        transcript=transcript,
        config=SessionConfig(silence_timeout_s=6.0, early_draft_ms=early_draft_ms),
        clock=clock.now,
        sleep=clock.sleep,
        end_of_turn=model or UnsureThenSure(),
        turn_inference=_inline,
    )
    line = line or PausingContact()
    metrics = await clock.run(session.run(line), limit_seconds=120)
    assert line.closed_by == ("contact" if hangs_up else "agent")
    return Outcome(metrics, transcript, stt, tts, session)


async def test_a_drafted_reply_is_dropped_when_the_contact_goes_on() -> None:
    done = await converse(ReplayableEchoBrain())
    # Ahead at the pause: "part" was heard, asked and synthesized...
    assert "You said part." in done.tts.synthesized
    assert done.session._speculator.dropped >= 1
    # ...but never played: the contact heard one answer, to the whole turn.
    assert done.transcript.said_by("agent") == [GREETING, "You said whole."]
    assert done.transcript.said_by("contact") == ["whole"]


async def test_a_confirmed_turn_plays_its_draft_without_doing_the_work_again() -> None:
    brain = ReplayableEchoBrain()
    done = await converse(brain)
    # One transcription per stop, one request per transcription, one synthesis of the
    # answer: nothing was redone once the turn was confirmed.
    assert len(done.stt.heard) == 2
    assert done.stt.heard[1] > done.stt.heard[0]  # the whole turn, both parts
    assert brain.asked == ["part", "whole"]
    assert done.tts.synthesized.count("You said whole.") == 1
    (turn,) = done.metrics.turns
    assert turn.speculated and turn.eot_probability == 0.95
    assert turn.stt_ms == 0 and turn.tts_ms == 0  # all done before the turn was confirmed


async def test_a_brain_that_cannot_be_asked_ahead_is_asked_once_the_turn_is_over() -> None:
    brain = EchoBrain()
    assert not replayable(brain) and replayable(ReplayableEchoBrain())
    done = await converse(brain)
    assert brain.asked == ["whole"]  # never asked about half a sentence
    assert "You said part." not in done.tts.synthesized
    assert len(done.stt.heard) == 2  # speech-to-text still ran ahead, and was not redone
    assert done.transcript.said_by("agent") == [GREETING, "You said whole."]
    (turn,) = done.metrics.turns
    assert turn.speculated


class DownBrain(ReplayableEchoBrain):
    """A replayable brain whose server is down."""

    async def stream(self, history: Sequence[Turn]) -> AsyncIterator[str | EndCall | ToolCall]:
        self.asked.append("?")
        raise ProviderError("llm down", provider="fake-llm", retryable=True)
        yield ""  # pragma: no cover - makes this an async generator


async def test_a_brain_failing_ahead_counts_as_its_first_attempt() -> None:
    brain = DownBrain()
    done = await converse(brain, hangs_up=False)
    # Asked ahead at both stops, the second of which was its first try for the whole turn;
    # then once more by the responder: two tries in all for the turn, then the apology.
    assert brain.asked == ["?", "?", "?"]
    assert done.transcript.said_by("agent") == [GREETING, APOLOGY]
    assert done.session.failure is not None
    assert done.session.failure.stage is Stage.BRAIN


@dataclass
class WordsStt(CountingStt):
    """Hears ``first`` at the pause, then the whole sentence."""

    first: str = ""
    whole: str = "I was wondering if you could help."

    async def transcribe(self, pcm16_16k: bytes) -> str:
        self.heard.append(len(pcm16_16k))
        return self.first if len(self.heard) == 1 else self.whole


class AlwaysSure(UnsureThenSure):
    """The end-of-turn model, sure the contact has finished at every stop."""

    def probability(self, pcm16_16k: bytes) -> float:
        self.calls += 1
        return 0.95


async def test_a_turn_whose_words_stop_mid_sentence_is_held_through_the_pause() -> None:
    brain = ReplayableEchoBrain()
    stt = WordsStt(first="I was wondering if")
    done = await converse(brain, stt=stt, model=AlwaysSure())
    # The model took the pause for the end; the words did not: the agent waited, the contact
    # went on, and the one reply answers the whole sentence.
    assert done.transcript.said_by("contact") == ["I was wondering if you could help."]
    assert done.transcript.said_by("agent") == [
        GREETING,
        "You said I was wondering if you could help.",
    ]
    assert done.metrics.early_turn_ends == 0
    (turn,) = done.metrics.turns
    assert not turn.held_unfinished  # the whole sentence was let through as soon as heard
    assert turn.eot_wait_ms < 400  # its words were known within the virtual STT's 0 ms


async def test_a_turn_whose_words_are_finished_is_not_held_through_the_pause() -> None:
    brain = ReplayableEchoBrain()
    stt = WordsStt(first="I was wondering.")
    done = await converse(brain, stt=stt, model=AlwaysSure())
    # The same pause, words that end a sentence: the turn ended at the pause.
    assert done.transcript.said_by("contact")[0] == "I was wondering."
    assert "You said I was wondering." in done.tts.synthesized
    assert brain.asked[0] == "I was wondering."
    assert all(not turn.held_unfinished for turn in done.metrics.turns)


async def test_the_scripted_brain_is_asked_ahead_and_a_dropped_draft_skips_no_line() -> None:
    profile = AgentProfile("- Are you free on Monday?\n- Great.", GREETING, 0.3, "scripted", {})
    done = await converse(ScriptedBrain(profile))
    # Drafted at the pause ("part") and dropped, drafted again for the whole turn: the
    # contact hears the script's first line, synthesized before the turn was confirmed.
    assert done.session._speculator.dropped >= 1
    assert done.tts.synthesized.count("Are you free on Monday?") == 2
    assert done.transcript.said_by("agent") == [GREETING, "Are you free on Monday?"]
    (turn,) = done.metrics.turns
    assert turn.speculated and turn.tts_ms == 0


async def test_a_draft_starts_before_the_vads_stop_and_becomes_the_turns() -> None:
    async def first_heard(early_draft_ms: float | None) -> tuple[int, list[str], list[str]]:
        brain = ReplayableEchoBrain()
        line = PausingContact(parts=(600,))
        done = await converse(brain, early_draft_ms=early_draft_ms, model=AlwaysSure(), line=line)
        (heard,) = done.stt.heard  # one transcription: the early draft was the turn's
        return heard, brain.asked, done.transcript.said_by("agent")

    early = await first_heard(96.0)
    at_stop = await first_heard(None)
    assert early[1:] == at_stop[1:] == (["part"], [GREETING, "You said part."])
    # The early draft heard the speech and 96 ms of the silence after it, the VAD's stop
    # 192 ms (less the window the stop fell in): it started about 96 ms sooner.
    assert 64 * 32 <= at_stop[0] - early[0] <= 128 * 32


async def test_an_early_draft_is_dropped_when_the_contact_goes_on_before_the_stop() -> None:
    brain = ReplayableEchoBrain()
    # A 150 ms pause: longer than the early start (96 ms), shorter than the stop (192 ms).
    line = PausingContact(parts=(600, 500), pause_ms=150)
    done = await converse(brain, model=AlwaysSure(), line=line)
    assert brain.asked == ["part", "whole"]  # drafted in the pause, and again at the end
    assert "You said part." in done.tts.synthesized
    assert done.session._speculator.dropped >= 1
    assert done.transcript.said_by("agent") == [GREETING, "You said whole."]
    assert done.transcript.said_by("contact") == ["whole"]
