"""The voice session's turn-taking, on voxline.testing's fakes and a virtual clock.

Each call here is a whole conversation (greeting, turns, barge-in, silences, failures,
goodbye) that runs in milliseconds of real time and the same way on every machine; the
real-model conversations are in test_session.py.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import pytest

from voxline.testing import (
    ContactLine,
    FakeBrain,
    FakeLine,
    FakeStt,
    FakeTts,
    MemoryTranscript,
    VirtualClock,
    fake_vad,
)
from voxline.testing.brain import SILENT_GOODBYE, STILL_THERE
from voxline.testing.speech import speaking_ms
from voxline.voice.brain.base import Reply
from voxline.voice.frames import FRAME_MS
from voxline.voice.metrics import CallMetrics
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.stages import APOLOGY, Stage, StageFailure

GREETING = "Hello, this is Ava from Voxline Dental."
HANGOVER_MS = 192


@dataclass
class Call:
    session: CallSession
    line: FakeLine
    transcript: MemoryTranscript
    metrics: CallMetrics
    clock: VirtualClock
    failures: list[StageFailure] = field(default_factory=list)

    def agent(self) -> list[str]:
        return self.transcript.said_by("agent")


async def call(
    lines: list[ContactLine],
    *,
    replies: list[Reply] | None = None,
    brain: FakeBrain | None = None,
    stt: FakeStt | None = None,
    tts: FakeTts | None = None,
    hang_up_after_ms: int | None = 3000,
) -> Call:
    clock = VirtualClock()
    stt = stt or FakeStt()
    line = FakeLine(list(lines), stt, hang_up_after_ms=hang_up_after_ms)
    transcript = MemoryTranscript()
    failures: list[StageFailure] = []

    async def failed(failure: StageFailure) -> None:
        failures.append(failure)

    session = CallSession(
        brain=brain or FakeBrain(GREETING, deque(replies or [])),
        stt=stt,
        tts=tts or FakeTts(),
        vad=fake_vad(hangover_ms=HANGOVER_MS),
        transcript=transcript,
        config=SessionConfig(silence_timeout_s=6.0),
        clock=clock.now,
        sleep=clock.sleep,
        on_failure=failed,
    )
    metrics = await clock.run(session.run(line), limit_seconds=600)
    return Call(session, line, transcript, metrics, clock, failures)


async def test_the_agent_answers_each_turn_in_order() -> None:
    done = await call(
        [ContactLine("Yes, speaking."), ContactLine("Sounds good.")],
        replies=[Reply("I'm calling about your appointment."), Reply("Great, see you then.")],
    )

    assert [speaker for speaker, _, _ in done.transcript.turns] == [
        "agent",
        "contact",
        "agent",
        "contact",
        "agent",
    ]
    assert done.agent() == [GREETING, "I'm calling about your appointment.", "Great, see you then."]
    timestamps = [at for _, _, at in done.transcript.turns]
    assert timestamps == sorted(timestamps)
    assert done.line.closed_by == "contact"


async def test_latency_figures_follow_the_virtual_clock() -> None:
    done = await call([ContactLine("Yes, speaking.")], replies=[Reply("Wonderful.")])

    assert done.metrics.answer_to_first_audio_ms is not None
    assert done.metrics.answer_to_first_audio_ms <= FRAME_MS  # greeting ready at the answer
    (turn,) = done.metrics.turns
    # Instant fakes: a reply starts one hang-over after the contact's last word, give or take
    # the VAD's 32 ms windows and a frame.
    assert turn.total_ms is not None
    assert HANGOVER_MS <= turn.total_ms <= HANGOVER_MS + 32 + 2 * FRAME_MS
    assert turn.stt_ms == turn.brain_ms == 0


async def test_barge_in_stops_the_agent_and_keeps_what_was_played() -> None:
    long_reply = "Let me tell you about every one of our many wonderful offers this month."
    done = await call(
        [ContactLine("Hello?"), ContactLine("Sorry, who is this?", barge_in_after_ms=1000)],
        replies=[Reply(long_reply), Reply("This is Ava from Voxline Dental.")],
    )

    assert done.metrics.barge_ins == 1
    assert done.line.cleared >= 1
    agent = done.agent()
    cut = agent[1]
    assert cut != long_reply and long_reply.startswith(cut.rstrip("."))
    assert agent[2] == "This is Ava from Voxline Dental."
    # The agent fell silent within a few frames of the contact starting to talk over it (the
    # VAD needs 64 ms of speech in 32 ms windows), and stayed silent while the contact spoke.
    barged_at = done.line.started[1][0]
    contact_frames = speaking_ms("Sorry, who is this?") // FRAME_MS
    talking_over = done.line.agent_frames[barged_at : barged_at + contact_frames]
    assert sum(talking_over) <= 8


async def test_without_barge_in_the_reply_plays_whole() -> None:
    long_reply = "Let me tell you about every one of our many wonderful offers this month."
    done = await call([ContactLine("Hello?")], replies=[Reply(long_reply)])

    assert done.metrics.barge_ins == 0
    assert done.agent() == [GREETING, long_reply]


async def test_silence_gets_a_prompt_then_a_goodbye_and_a_hang_up() -> None:
    done = await call([], hang_up_after_ms=None)

    assert done.agent() == [GREETING, STILL_THERE, SILENT_GOODBYE]
    assert done.line.closed_by == "agent"
    prompts = [at for speaker, text, at in done.transcript.turns if text == STILL_THERE]
    # The prompt comes one silence timeout after the greeting ended, on the virtual clock.
    greeting_ends = speaking_ms(GREETING) / 1000
    assert prompts[0] >= greeting_ends + 6.0


async def test_a_contact_who_answers_gets_no_silence_prompt() -> None:
    done = await call([ContactLine("Yes?")], replies=[Reply("Just checking in. Goodbye!", True)])

    assert STILL_THERE not in done.agent()


async def test_the_agent_hangs_up_only_after_its_goodbye_has_played() -> None:
    goodbye = "Thank you for your time, have a lovely day. Goodbye!"
    done = await call(
        [ContactLine("No thanks, that's all.")],
        replies=[Reply(goodbye, end_call=True)],
        hang_up_after_ms=None,
    )

    assert done.line.closed_by == "agent"
    assert done.agent()[-1] == goodbye
    after_contact = done.line.started[-1][0]
    assert done.line.agent_sound_ms(after_frame=after_contact) >= speaking_ms(goodbye)


async def test_a_goodbye_talked_over_is_said_whole_and_ends_the_call() -> None:
    goodbye = "Thank you for your time, have a lovely day and a wonderful week. Goodbye!"
    done = await call(
        [ContactLine("Okay."), ContactLine("Wait, one more thing!", barge_in_after_ms=800)],
        replies=[Reply(goodbye, end_call=True), Reply("Of course, go ahead.")],
    )

    assert done.metrics.barge_ins == 0  # a goodbye is not cut
    assert done.agent()[-1] == goodbye
    assert done.line.closed_by == "agent"


async def test_a_brain_failing_twice_gets_an_apology_and_the_call_ends() -> None:
    brain = FakeBrain(GREETING, failures=2)
    done = await call([ContactLine("Yes, speaking.")], brain=brain, hang_up_after_ms=None)

    assert done.agent() == [GREETING, APOLOGY]
    assert done.failures == [StageFailure(Stage.BRAIN, "brain failed: fake brain is down")]
    assert done.session.failure == done.failures[0]
    assert done.line.closed_by == "agent"
    assert done.transcript.said_by("contact") == ["Yes, speaking."]


async def test_a_brain_failing_once_is_retried_unnoticed() -> None:
    brain = FakeBrain(GREETING, deque([Reply("Wonderful.")]), failures=1)
    done = await call([ContactLine("Yes, speaking.")], brain=brain)

    assert done.agent() == [GREETING, "Wonderful."]
    assert done.failures == []
    assert len(brain.heard) == 2


async def test_failing_speech_to_text_gets_an_apology() -> None:
    done = await call([ContactLine("Yes, speaking.")], stt=FakeStt(failures=2))

    assert done.agent() == [GREETING, APOLOGY]
    assert [failure.stage for failure in done.failures] == [Stage.STT]


async def test_when_the_apology_cannot_be_spoken_the_agent_hangs_up_at_once() -> None:
    done = await call([ContactLine("Yes, speaking.")], tts=FakeTts(works=1))

    assert done.agent() == [GREETING]
    assert [failure.stage for failure in done.failures] == [Stage.TTS]
    assert done.line.closed_by == "agent"


async def test_a_greeting_that_cannot_be_prepared_gets_the_apology_at_once() -> None:
    done = await call([], tts=FakeTts(works=0), hang_up_after_ms=None)

    assert done.agent() == []
    assert [failure.stage for failure in done.failures] == [Stage.TTS]
    assert done.line.closed_by == "agent"


async def test_a_session_without_speech_models_runs_only_on_a_text_line() -> None:
    session = CallSession(brain=FakeBrain(GREETING), transcript=MemoryTranscript())

    with pytest.raises(RuntimeError, match="text line"):
        await session.run(FakeLine([]))
