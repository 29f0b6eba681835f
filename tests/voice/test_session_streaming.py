"""A voice session whose speech-to-text streams: the engine's endpointing ends the contact's
turns. On voxline.testing's fakes and a virtual clock (the Deepgram adapter itself is tested
against its emulator in tests/voice/stt/test_deepgram.py and tests/voice/test_hearing.py)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from voxline.testing import (
    ContactLine,
    FakeBrain,
    FakeLine,
    FakeStreamingStt,
    FakeStt,
    FakeTts,
    MemoryTranscript,
    VirtualClock,
    fake_vad,
)
from voxline.voice.brain.base import Reply
from voxline.voice.frames import FRAME_MS
from voxline.voice.metrics import CallMetrics
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.stages import APOLOGY, Stage, StageFailure

GREETING = "Hello, this is Ava from Voxline Dental."
ENDPOINTING_MS = 300
# The session's own VAD waits far longer: a turn that ends sooner was ended by the engine.
VAD_HANGOVER_MS = 1500


@dataclass
class Call:
    line: FakeLine
    transcript: MemoryTranscript
    metrics: CallMetrics
    failures: list[StageFailure] = field(default_factory=list)


async def call(lines: list[ContactLine], stt: FakeStt, replies: list[Reply]) -> Call:
    clock = VirtualClock()
    line = FakeLine(list(lines), stt, hang_up_after_ms=3000)
    transcript = MemoryTranscript()
    failures: list[StageFailure] = []

    async def failed(failure: StageFailure) -> None:
        failures.append(failure)

    session = CallSession(
        brain=FakeBrain(GREETING, deque(replies)),
        stt=stt,
        tts=FakeTts(),
        vad=fake_vad(hangover_ms=VAD_HANGOVER_MS),
        transcript=transcript,
        config=SessionConfig(silence_timeout_s=6.0),
        clock=clock.now,
        sleep=clock.sleep,
        on_failure=failed,
    )
    metrics = await clock.run(session.run(line), limit_seconds=600)
    return Call(line, transcript, metrics, failures)


async def test_the_engine_ends_each_turn_with_its_transcript() -> None:
    stt = FakeStreamingStt(endpointing_ms=ENDPOINTING_MS)
    done = await call(
        [ContactLine("Yes, speaking."), ContactLine("Thursday suits me.")],
        stt,
        [Reply("I'm calling about your appointment."), Reply("Great, see you then.")],
    )
    assert done.transcript.said_by("contact") == ["Yes, speaking.", "Thursday suits me."]
    assert done.transcript.said_by("agent")[1:] == [
        "I'm calling about your appointment.",
        "Great, see you then.",
    ]
    assert stt.opened == 1 and stt.calls == 0  # one stream; the batch port never used
    for turn in done.metrics.turns:
        # The engine's wait, as the session saw it: a frame may pass while its event travels.
        assert ENDPOINTING_MS <= turn.vad_wait_ms <= ENDPOINTING_MS + FRAME_MS + 0.01
        assert turn.stt_ms == 0
        # Instant fakes: the reply starts within a frame of the engine's end of turn.
        assert turn.total_ms is not None
        assert turn.vad_wait_ms <= turn.total_ms <= turn.vad_wait_ms + 2 * FRAME_MS
        assert turn.total_ms < VAD_HANGOVER_MS


async def test_a_batch_engine_still_waits_for_the_vad() -> None:
    # The negative case: the same call with a batch engine ends turns on the VAD's hang-over.
    done = await call([ContactLine("Yes, speaking.")], FakeStt(), [Reply("Wonderful.")])
    (turn,) = done.metrics.turns
    assert turn.total_ms is not None and turn.total_ms >= VAD_HANGOVER_MS


async def test_a_dropped_stream_is_reopened_once_then_the_call_apologises() -> None:
    stt = FakeStreamingStt(endpointing_ms=ENDPOINTING_MS, drop_after_frames=50)
    done = await call([ContactLine("Yes, speaking.")], stt, [Reply("Wonderful.")])
    assert stt.opened == 2
    assert done.transcript.said_by("agent") == [GREETING, APOLOGY]
    assert [f.stage for f in done.failures] == [Stage.STT]
    assert done.line.closed_by == "agent"


async def test_an_engine_that_cannot_open_gets_an_apology() -> None:
    stt = FakeStreamingStt(failures=5)
    done = await call([ContactLine("Yes, speaking.")], stt, [Reply("Wonderful.")])
    assert done.transcript.said_by("agent") == [GREETING, APOLOGY]
    assert done.failures == [StageFailure(Stage.STT, "speech-to-text failed: fake-stt is down")]
