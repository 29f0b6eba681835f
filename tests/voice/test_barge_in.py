"""Barge-in in the voice session, on voxline.testing's fakes and a virtual clock: the agent
holds its speech while the contact's speech over it is judged, then stops or goes on."""

from __future__ import annotations

from collections import deque

import pytest

from voxline.errors import ProviderError
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
from voxline.testing.speech import speaking_ms
from voxline.voice.brain.base import Reply
from voxline.voice.frames import FRAME_MS
from voxline.voice.metrics import CallMetrics
from voxline.voice.session import CallSession, SessionConfig

GREETING = "Hello, this is Ava from Voxline Dental."
LONG_REPLY = (
    "Let me tell you about every one of our many wonderful offers this month, one by one, "
    "starting with the cleaning."
)
NEXT_REPLY = "This is Ava from Voxline Dental."

# Every test runs with the session handling 20 ms frames (the default) and 40 ms blocks
# (the media_block_ms setting): a block is heard and played whole, and the verdicts match.
pytestmark = pytest.mark.parametrize("block_ms", [20, 40])


async def call(
    over_agent: str,
    *,
    block_ms: int,
    stt: FakeStt | None = None,
    reply: str = LONG_REPLY,
    after_ms: int = 1000,
) -> tuple[FakeLine, MemoryTranscript, CallMetrics]:
    """A call where the contact says ``over_agent`` ``after_ms`` into the agent's reply."""
    clock = VirtualClock()
    stt = stt or FakeStt()
    lines = [ContactLine("Hello?"), ContactLine(over_agent, barge_in_after_ms=after_ms)]
    line = FakeLine(lines, stt, hang_up_after_ms=3000)
    transcript = MemoryTranscript()
    session = CallSession(
        brain=FakeBrain(GREETING, deque([Reply(reply), Reply(NEXT_REPLY)])),
        stt=stt,
        tts=FakeTts(),
        vad=fake_vad(hangover_ms=192),
        transcript=transcript,
        config=SessionConfig(silence_timeout_s=6.0, media_block_ms=block_ms),
        clock=clock.now,
        sleep=clock.sleep,
    )
    metrics = await clock.run(session.run(line), limit_seconds=600)
    return line, transcript, metrics


async def test_a_backchannel_does_not_cut_the_agent_or_get_an_answer(block_ms: int) -> None:
    line, transcript, metrics = await call("Uh-huh.", block_ms=block_ms)

    assert metrics.barge_ins == 0
    assert line.cleared == 0
    assert transcript.said_by("agent") == [GREETING, LONG_REPLY]  # said whole, no reply
    # The backchannel is in the transcript, after the turn it was said over.
    assert [who for who, _, _ in transcript.turns] == ["agent", "contact", "agent", "contact"]
    assert transcript.said_by("contact")[-1] == "Uh-huh."
    reply_at, backchannel_at = transcript.turns[2][2], transcript.turns[3][2]
    assert reply_at < backchannel_at
    # The agent held while the contact spoke, then went on where it was: all of the reply
    # was played, with a pause no longer than the backchannel plus its judgement.
    total = speaking_ms(GREETING) + speaking_ms(LONG_REPLY)
    assert line.agent_sound_ms() >= total - 2 * FRAME_MS
    held_from = line.started[1][0]
    window = line.agent_frames[held_from : held_from + 2000 // FRAME_MS]
    assert 0 < window.count(0) * FRAME_MS <= speaking_ms("Uh-huh.") + 600


async def test_a_yes_as_the_agent_finishes_its_question_is_answered(block_ms: int) -> None:
    question = "Is Thursday at two good for you?"  # 1.75 s
    _, transcript, metrics = await call("Yes.", reply=question, after_ms=1400, block_ms=block_ms)

    assert metrics.barge_ins == 0
    assert transcript.said_by("agent") == [GREETING, question, NEXT_REPLY]
    assert "Yes." in transcript.said_by("contact")


async def test_speech_starting_like_a_backchannel_still_interrupts(block_ms: int) -> None:
    _, transcript, metrics = await call("Okay but I'm busy right now.", block_ms=block_ms)

    assert metrics.barge_ins == 1
    agent = transcript.said_by("agent")
    assert agent[1] != LONG_REPLY and LONG_REPLY.startswith(agent[1].rstrip("."))
    assert agent[2] == NEXT_REPLY
    assert "Okay but I'm busy right now." in transcript.said_by("contact")


async def test_a_real_interruption_silences_the_agent_within_a_few_frames(block_ms: int) -> None:
    line, transcript, metrics = await call("No wait, stop.", block_ms=block_ms)

    assert metrics.barge_ins == 1
    assert transcript.said_by("agent")[2] == NEXT_REPLY
    barged_at = line.started[1][0]
    # Silent from a few frames into the contact's speech (the VAD needs 64 ms in 32 ms
    # windows) for as long as the contact talks.
    talking_over = line.agent_frames[barged_at : barged_at + speaking_ms("No wait, stop.") // 20]
    assert sum(talking_over) <= 8


class SttDownAfterFirstTurn(FakeStt):
    """Hears the contact's first line, then the speech server is down."""

    async def transcribe(self, pcm16_16k: bytes) -> str:
        if self.calls >= 1:
            self.calls += 1
            raise ProviderError("speech server unreachable", provider="stt", retryable=True)
        return await super().transcribe(pcm16_16k)


async def test_a_failing_transcription_never_hides_an_interruption(block_ms: int) -> None:
    # The words over the agent cannot be known: it may be a real interruption, so it stops
    # (and the contact's turn then meets the usual stage failure: an apology).
    _, transcript, metrics = await call("Okay.", stt=SttDownAfterFirstTurn(), block_ms=block_ms)
    assert metrics.barge_ins == 1
    assert LONG_REPLY not in transcript.said_by("agent")


async def test_without_a_failure_the_same_words_do_not_cut(block_ms: int) -> None:
    _, transcript, metrics = await call("Okay.", block_ms=block_ms)
    assert metrics.barge_ins == 0
    assert LONG_REPLY in transcript.said_by("agent")
