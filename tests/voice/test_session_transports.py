"""One conversation policy on both transports: the same CallSession code on an audio line
(media clock, VAD, speech-to-text, text-to-speech) and on a text line, on voxline.testing's
fakes and a virtual clock.

Each test runs the same script in both modes and checks the same outcome: the greeting,
silence prompts and the hang-up after the second silence, the hang-up once the goodbye is
said, a cut turn stored as far as it was said, and a failing brain's apology.
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
    FakeTextLine,
    FakeTts,
    MemoryTranscript,
    VirtualClock,
    fake_vad,
)
from voxline.testing.brain import SILENT_GOODBYE, STILL_THERE
from voxline.testing.speech import speaking_ms
from voxline.voice.brain.base import Reply
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.stages import APOLOGY, Stage, StageFailure

GREETING = "Hello, this is Ava from Voxline Dental."
SILENCE_TIMEOUT_S = 6.0

pytestmark = pytest.mark.parametrize("mode", ["audio", "text"])


@dataclass
class Call:
    session: CallSession
    transcript: MemoryTranscript
    closed_by: str | None
    # What the agent had said when the failure was reported, for each failure.
    failures: list[tuple[StageFailure, list[str]]] = field(default_factory=list)
    audio: FakeLine | None = None
    text: FakeTextLine | None = None

    def agent(self) -> list[str]:
        return self.transcript.said_by("agent")

    def said_whole_before_hanging_up(self, goodbye: str) -> bool:
        """Whether the agent's last words were ``goodbye``, all of it, before the line
        closed."""
        if self.audio is not None:
            after_contact = self.audio.started[-1][0]
            return self.audio.agent_sound_ms(after_frame=after_contact) >= speaking_ms(goodbye)
        assert self.text is not None and self.text.closed_at is not None
        started, spoken = self.text.said[-1]
        finished = started + speaking_ms(goodbye) / 1000
        return spoken.text == goodbye and not spoken.interrupted and self.text.closed_at >= finished


async def call(
    mode: str,
    lines: list[ContactLine],
    *,
    replies: list[Reply] | None = None,
    brain: FakeBrain | None = None,
    hang_up_after_ms: int | None = 3000,
) -> Call:
    clock = VirtualClock()
    transcript = MemoryTranscript()
    failures: list[tuple[StageFailure, list[str]]] = []

    async def failed(failure: StageFailure) -> None:
        failures.append((failure, transcript.said_by("agent")))

    brain = brain or FakeBrain(GREETING, deque(replies or []))
    config = SessionConfig(silence_timeout_s=SILENCE_TIMEOUT_S)
    if mode == "audio":
        stt = FakeStt()
        line = FakeLine(list(lines), stt, hang_up_after_ms=hang_up_after_ms)
        session = CallSession(
            brain=brain,
            transcript=transcript,
            stt=stt,
            tts=FakeTts(),
            vad=fake_vad(),
            config=config,
            clock=clock.now,
            sleep=clock.sleep,
            on_failure=failed,
        )
        await clock.run(session.run(line), limit_seconds=600)
        return Call(session, transcript, line.closed_by, failures, audio=line)
    text_line = FakeTextLine(list(lines), clock, hang_up_after_ms=hang_up_after_ms)
    session = CallSession(
        brain=brain, transcript=transcript, config=config, clock=clock.now, on_failure=failed
    )
    await clock.run(session.run_text(text_line), limit_seconds=600)
    return Call(session, transcript, text_line.closed_by, failures, text=text_line)


async def test_turns_alternate_and_the_contact_hangs_up(mode: str) -> None:
    done = await call(
        mode,
        [ContactLine("Yes, speaking."), ContactLine("Sounds good.")],
        replies=[Reply("I'm calling about your appointment."), Reply("Great, see you then.")],
    )

    speakers = [speaker for speaker, _, _ in done.transcript.turns]
    assert speakers == ["agent", "contact", "agent", "contact", "agent"]
    assert done.agent() == [GREETING, "I'm calling about your appointment.", "Great, see you then."]
    timestamps = [at for _, _, at in done.transcript.turns]
    assert timestamps == sorted(timestamps)
    assert done.closed_by == "contact"


async def test_silence_gets_a_prompt_then_a_goodbye_and_a_hang_up(mode: str) -> None:
    done = await call(mode, [], hang_up_after_ms=None)

    assert done.agent() == [GREETING, STILL_THERE, SILENT_GOODBYE]
    assert done.closed_by == "agent"
    assert done.transcript.said_by("contact") == []
    prompts = [at for _, text, at in done.transcript.turns if text == STILL_THERE]
    # The prompt comes one silence timeout after the greeting ended.
    assert prompts[0] >= speaking_ms(GREETING) / 1000 + SILENCE_TIMEOUT_S
    assert done.failures == []


async def test_the_agent_hangs_up_only_after_its_goodbye_was_said(mode: str) -> None:
    goodbye = "Thank you for your time, have a lovely day. Goodbye!"
    done = await call(
        mode,
        [ContactLine("No thanks, that's all.")],
        replies=[Reply(goodbye, end_call=True)],
        hang_up_after_ms=None,
    )

    assert done.closed_by == "agent"
    assert done.agent() == [GREETING, goodbye]
    assert done.said_whole_before_hanging_up(goodbye)


async def test_a_goodbye_talked_over_still_ends_the_call(mode: str) -> None:
    """``end_call`` hangs up after the goodbye, and talking over it does not cancel it: on
    audio the goodbye plays to its end; a text line reports the cut, and the call ends."""
    goodbye = "Thank you for your time, have a lovely day and a wonderful week. Goodbye!"
    done = await call(
        mode,
        [ContactLine("Okay."), ContactLine("Wait, one more thing!", barge_in_after_ms=800)],
        replies=[Reply(goodbye, end_call=True), Reply("Of course, go ahead.")],
    )

    assert done.closed_by == "agent"
    assert "Of course, go ahead." not in done.agent()
    said = done.agent()[1]
    if mode == "audio":
        assert done.session.metrics.barge_ins == 0
        assert said == goodbye  # the transcript keeps what was played, so all of it played
    else:
        assert done.session.metrics.barge_ins == 1
        assert said and said != goodbye and goodbye.startswith(said)


async def test_a_turn_talked_over_before_the_goodbye_is_cut_and_the_contact_heard(
    mode: str,
) -> None:
    long_turn = "Let me tell you about our three plans, starting with the basic one for homes."
    done = await call(
        mode,
        [ContactLine("Okay."), ContactLine("Wait, one more thing!", barge_in_after_ms=800)],
        replies=[Reply(long_turn), Reply("Of course, go ahead.")],
    )

    assert done.session.metrics.barge_ins == 1
    cut = done.agent()[1]
    assert cut and cut != long_turn and long_turn.startswith(cut)
    assert done.agent()[2] == "Of course, go ahead."
    assert done.transcript.said_by("contact") == ["Okay.", "Wait, one more thing!"]


async def test_a_failing_brain_gets_an_apology_then_the_failure_is_reported(mode: str) -> None:
    brain = FakeBrain(GREETING, failures=2)
    done = await call(mode, [ContactLine("Yes, speaking.")], brain=brain, hang_up_after_ms=None)

    assert done.agent() == [GREETING, APOLOGY]
    failure = StageFailure(Stage.BRAIN, "brain failed: fake brain is down")
    # Reported once, after the apology reached the transcript.
    assert done.failures == [(failure, [GREETING, APOLOGY])]
    assert done.session.failure == failure
    assert done.closed_by == "agent"
    assert done.transcript.said_by("contact") == ["Yes, speaking."]
    assert len(brain.heard) == 2  # retried once
