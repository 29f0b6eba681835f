"""The agent acts: tool calls in a CallSession, on both transports, on voxline.testing's
fakes and a virtual clock.

HTTP tools run through a fake runner here (the real requests are tested in
tests/services/test_http_tools.py); call control is a fake that records what it was asked.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from voxline.domain.tools import (
    AgentTools,
    DynamicParameter,
    Filler,
    HttpTool,
    ParameterLocation,
    TransferDestination,
    TransferSettings,
    VoicemailSettings,
)
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
from voxline.voice.brain.base import Reply, ToolCall, ToolTurn
from voxline.voice.dtmf import DtmfDetector
from voxline.voice.frames import AudioFrame
from voxline.voice.session import MAX_TOOL_ROUNDS, CallSession, SessionConfig
from voxline.voice.tools import SessionTools, ToolFailed

GREETING = "Hello, this is Ava from Voxline Dental."

pytestmark = pytest.mark.parametrize("mode", ["audio", "text"])

LOOKUP = HttpTool(
    model_tool_name="lookup_order",
    description="Look an order up",
    url="https://orders.example/orders/{order}",
    method="GET",
    dynamic_parameters=(
        DynamicParameter("order", ParameterLocation.PATH, {"type": "string"}, required=True),
    ),
    filler=Filler(delay_seconds=0.8, text="One moment while I check."),
)


def lookup(order: object = "42", call_id: str = "call_1") -> ToolCall:
    return ToolCall(call_id, "lookup_order", json.dumps({"order": order}))


@dataclass
class FakeRunner:
    """Answers ``answer`` after ``delay_s`` of simulated time, or fails with ``fail``."""

    clock: VirtualClock
    answer: Any = field(default_factory=lambda: {"status": "shipped"})
    delay_s: float = 0.0
    fail: str | None = None
    hang: bool = False
    calls: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    async def run(
        self, tool: HttpTool, call: ToolCall, arguments: Mapping[str, Any], history: Sequence[Any]
    ) -> Any:
        self.calls.append((tool.model_tool_name, dict(arguments)))
        if self.hang:
            await asyncio.Event().wait()
        if self.delay_s:
            await self.clock.sleep(self.delay_s)
        if self.fail:
            raise ToolFailed(self.fail)
        return self.answer


@dataclass
class FakeControl:
    transfer_fails: bool = False
    carrier_keys: bool = True
    transfers: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    voicemails: int = 0

    async def transfer(self, destination: str) -> None:
        if self.transfer_fails:
            raise ToolFailed("the transfer failed: the line is busy")
        self.transfers.append(destination)

    async def send_digits(self, digits: str) -> bool:
        self.digits.append(digits)
        return self.carrier_keys

    async def voicemail_left(self) -> None:
        self.voicemails += 1


@dataclass
class FakeTimeline:
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def record(self, kind: str, data: Mapping[str, Any]) -> None:
        self.entries.append((kind, dict(data)))


@dataclass
class Done:
    session: CallSession
    transcript: MemoryTranscript
    brain: FakeBrain
    closed_by: str | None

    def agent(self) -> list[str]:
        return self.transcript.said_by("agent")


async def converse(
    mode: str,
    lines: list[ContactLine],
    replies: list[Reply],
    *,
    agent_tools: AgentTools,
    runner: FakeRunner | None = None,
    control: FakeControl | None = None,
    timeline: FakeTimeline | None = None,
    clock: VirtualClock | None = None,
    hang_up_after_ms: int | None = 3000,
) -> Done:
    clock = clock or VirtualClock()
    transcript = MemoryTranscript()
    brain = FakeBrain(GREETING, deque(replies))
    tools = SessionTools(agent_tools, control, runner, timeline)
    if mode == "audio":
        stt = FakeStt()
        line = FakeLine(list(lines), stt, hang_up_after_ms=hang_up_after_ms)
        session = CallSession(
            brain=brain,
            transcript=transcript,
            stt=stt,
            tts=FakeTts(),
            vad=fake_vad(),
            config=SessionConfig(),
            clock=clock.now,
            sleep=clock.sleep,
            tools=tools,
        )
        await clock.run(session.run(line), limit_seconds=600)
        return Done(session, transcript, brain, line.closed_by)
    text_line = FakeTextLine(list(lines), clock, hang_up_after_ms=hang_up_after_ms)
    session = CallSession(
        brain=brain,
        transcript=transcript,
        config=SessionConfig(),
        clock=clock.now,
        sleep=clock.sleep,
        tools=tools,
    )
    await clock.run(session.run_text(text_line), limit_seconds=600)
    return Done(session, transcript, brain, text_line.closed_by)


def tool_turns(done: Done) -> list[ToolTurn]:
    return [t for heard in done.brain.heard for t in heard if isinstance(t, ToolTurn)]


async def test_an_http_tool_answers_and_the_agent_speaks_from_its_result(mode: str) -> None:
    clock = VirtualClock()
    runner = FakeRunner(clock)
    done = await converse(
        mode,
        [ContactLine("Where is my order 42?")],
        [Reply("Let me check.", tool_calls=(lookup(),)), Reply("It has shipped.")],
        agent_tools=AgentTools(http=(LOOKUP,)),
        runner=runner,
        clock=clock,
    )

    assert runner.calls == [("lookup_order", {"order": "42"})]
    assert done.agent() == [GREETING, "Let me check.", "It has shipped."]
    turn = tool_turns(done)[0]
    assert turn.text == "Let me check."
    assert [json.loads(r.content) for r in turn.results] == [{"status": "shipped"}]


async def test_a_slow_tool_gets_the_filler_and_a_quick_one_does_not(mode: str) -> None:
    for delay_s, filler_said in ((3.0, True), (0.2, False)):
        clock = VirtualClock()
        done = await converse(
            mode,
            [ContactLine("Where is my order 42?")],
            [Reply("", tool_calls=(lookup(),)), Reply("It has shipped.")],
            agent_tools=AgentTools(http=(LOOKUP,)),
            runner=FakeRunner(clock, delay_s=delay_s),
            clock=clock,
        )
        expected = [GREETING, "One moment while I check.", "It has shipped."]
        assert done.agent() == (expected if filler_said else [GREETING, "It has shipped."])


async def test_a_failing_or_hanging_tool_gives_the_model_an_error_not_a_dead_call(
    mode: str,
) -> None:
    hanging = HttpTool(
        model_tool_name="lookup_order",
        description="Look an order up",
        url="https://orders.example/orders/{order}",
        method="GET",
        dynamic_parameters=LOOKUP.dynamic_parameters,
        timeout_seconds=5.0,  # on the session's (virtual) clock: the runner never answers
        filler=Filler(delay_seconds=1000.0),
    )
    for runner_options, expected in (
        ({"fail": "the tool answered HTTP 500"}, "the tool answered HTTP 500"),
        ({"hang": True}, "did not answer within 5s"),
    ):
        clock = VirtualClock()
        done = await converse(
            mode,
            [ContactLine("Where is my order 42?")],
            [Reply("", tool_calls=(lookup(),)), Reply("Sorry, I can't see it right now.")],
            agent_tools=AgentTools(http=(hanging,)),
            runner=FakeRunner(clock, **runner_options),
            clock=clock,
        )
        result = json.loads(tool_turns(done)[0].results[0].content)
        assert expected in result["error"]
        assert done.agent()[-1] == "Sorry, I can't see it right now."


async def test_bad_arguments_and_unknown_tools_are_errors_the_model_sees(mode: str) -> None:
    clock = VirtualClock()
    runner = FakeRunner(clock)
    calls = (
        lookup(order=42, call_id="a"),  # not a string
        ToolCall("b", "lookup_order", "{not json"),
        ToolCall("c", "delete_everything", "{}"),
        ToolCall("d", "transfer_call", "{}"),  # a built-in the agent did not enable
    )
    done = await converse(
        mode,
        [ContactLine("Where is my order?")],
        [Reply("", tool_calls=calls), Reply("Let me try again later.")],
        agent_tools=AgentTools(http=(LOOKUP,)),
        runner=runner,
        clock=clock,
    )

    assert runner.calls == []
    results = {r.call_id: json.loads(r.content)["error"] for r in tool_turns(done)[0].results}
    assert "invalid arguments at order" in results["a"]
    assert "not valid JSON" in results["b"]
    assert "no tool named 'delete_everything'" in results["c"]
    assert "not enabled" in results["d"]
    assert done.agent()[-1] == "Let me try again later."


async def test_several_tool_calls_in_one_turn_all_get_results_in_order(mode: str) -> None:
    clock = VirtualClock()
    runner = FakeRunner(clock, delay_s=0.1)
    done = await converse(
        mode,
        [ContactLine("Orders 1 and 2?")],
        [Reply("", tool_calls=(lookup("1", "x"), lookup("2", "y"))), Reply("Both shipped.")],
        agent_tools=AgentTools(http=(LOOKUP,)),
        runner=runner,
        clock=clock,
    )

    assert sorted(args["order"] for _, args in runner.calls) == ["1", "2"]
    assert [r.call_id for r in tool_turns(done)[0].results] == ["x", "y"]
    assert done.agent()[-1] == "Both shipped."


async def test_a_model_that_keeps_calling_tools_is_stopped(mode: str) -> None:
    clock = VirtualClock()
    runner = FakeRunner(clock)
    replies = [Reply("", tool_calls=(lookup(call_id=f"c{i}"),)) for i in range(MAX_TOOL_ROUNDS + 3)]
    done = await converse(
        mode,
        [ContactLine("Where is my order?")],
        replies,
        agent_tools=AgentTools(http=(LOOKUP,)),
        runner=runner,
        clock=clock,
    )

    assert len(runner.calls) == MAX_TOOL_ROUNDS
    # The model is told, and asked once more; it then only gets to speak.
    last = tool_turns(done)[-1]
    assert "too many tool calls" in json.loads(last.results[0].content)["error"]


async def test_talking_over_a_running_tool_keeps_both_the_words_and_the_result(
    mode: str,
) -> None:
    clock = VirtualClock()
    runner = FakeRunner(clock, delay_s=4.0)
    done = await converse(
        mode,
        [
            ContactLine("Where is my order 42?"),
            ContactLine("Are you still looking it up?", barge_in_after_ms=300),
        ],
        [Reply("", tool_calls=(lookup(),)), Reply("It has shipped."), Reply("Yes, done now.")],
        agent_tools=AgentTools(http=(LOOKUP,)),
        runner=runner,
        clock=clock,
    )

    assert json.loads(tool_turns(done)[0].results[0].content) == {"status": "shipped"}
    assert "Are you still looking it up?" in done.transcript.said_by("contact")


TRANSFER = TransferSettings(
    (TransferDestination("+14155550199", "the front desk"),), message="Let me put you through."
)


async def test_a_transfer_leaves_the_caller_with_the_destination(mode: str) -> None:
    control = FakeControl()
    timeline = FakeTimeline()
    done = await converse(
        mode,
        [ContactLine("Can I speak to a person?")],
        [Reply("", tool_calls=(ToolCall("t", "transfer_call", "{}"),))],
        agent_tools=AgentTools(transfer=TRANSFER),
        control=control,
        timeline=timeline,
        hang_up_after_ms=None,
    )

    assert control.transfers == ["+14155550199"]
    assert done.agent() == [GREETING, "Let me put you through."]
    assert done.closed_by is None  # the agent left without hanging up
    kinds = [kind for kind, _ in timeline.entries]
    assert "transfer" in kinds and "tool_call" in kinds


async def test_a_failed_transfer_brings_the_agent_back_to_say_so(mode: str) -> None:
    control = FakeControl(transfer_fails=True)
    done = await converse(
        mode,
        [ContactLine("Can I speak to a person?")],
        [
            Reply("", tool_calls=(ToolCall("t", "transfer_call", "{}"),)),
            Reply("Sorry, nobody can take the call right now."),
        ],
        agent_tools=AgentTools(transfer=TRANSFER),
        control=control,
    )

    assert control.transfers == []
    assert "transfer failed" in json.loads(tool_turns(done)[0].results[0].content)["error"]
    assert done.agent()[-1] == "Sorry, nobody can take the call right now."
    assert done.closed_by == "contact"


async def test_a_transfer_goes_only_to_a_configured_destination(mode: str) -> None:
    control = FakeControl()
    done = await converse(
        mode,
        [ContactLine("Can I speak to a person?")],
        [
            Reply("", tool_calls=(ToolCall("t", "transfer_call", '{"destination": "+15550000"}'),)),
            Reply("I can't do that."),
        ],
        agent_tools=AgentTools(transfer=TRANSFER),
        control=control,
    )

    assert control.transfers == []
    assert (
        "destination must be one of" in json.loads(tool_turns(done)[0].results[0].content)["error"]
    )


async def test_keys_go_through_the_carrier_and_the_agent_then_listens(mode: str) -> None:
    control = FakeControl(carrier_keys=True)
    done = await converse(
        mode,
        [ContactLine("For appointments, press 1."), ContactLine("Appointments, how can I help?")],
        [Reply("", tool_calls=(ToolCall("k", "send_dtmf", '{"digits": "1"}'),)), Reply("Hi!")],
        agent_tools=AgentTools(send_dtmf=True),
        control=control,
    )

    assert control.digits == ["1"]
    # Nothing was said after the keys: the next agent words answer the next contact turn
    # (a scripted audio contact waits for the agent to talk, so there a silence prompt comes).
    if mode == "text":
        assert done.agent() == [GREETING, "Hi!"]
    else:
        assert done.agent()[:2] == [GREETING, "Are you still there?"]
    assert len(done.brain.heard) == 2
    bad = await converse(
        mode,
        [ContactLine("Press 1.")],
        [Reply("", tool_calls=(ToolCall("k", "send_dtmf", '{"digits": "12x"}'),)), Reply("Oh.")],
        agent_tools=AgentTools(send_dtmf=True),
        control=FakeControl(),
    )
    assert "digits must be" in json.loads(tool_turns(bad)[0].results[0].content)["error"]


async def test_keys_the_carrier_cannot_send_are_played_as_tones(mode: str) -> None:
    control = FakeControl(carrier_keys=False)
    clock = VirtualClock()
    transcript = MemoryTranscript()
    brain = FakeBrain(
        GREETING,
        deque([Reply("", tool_calls=(ToolCall("k", "send_dtmf", '{"digits": "1#"}'),))]),
    )
    tools = SessionTools(AgentTools(send_dtmf=True), control, None, None)
    lines = [ContactLine("For appointments, press 1 then hash.")]
    if mode == "text":
        text_line = FakeTextLine(lines, clock, hang_up_after_ms=3000)
        session = CallSession(
            brain=brain, transcript=transcript, clock=clock.now, sleep=clock.sleep, tools=tools
        )
        await clock.run(session.run_text(text_line), limit_seconds=600)
        assert [digits for _, digits in text_line.pressed] == ["1#"]
        return
    line = KeypadLine(lines, FakeStt(), hang_up_after_ms=3000)
    session = CallSession(
        brain=brain,
        transcript=transcript,
        stt=line.stt,
        tts=FakeTts(),
        vad=fake_vad(),
        clock=clock.now,
        sleep=clock.sleep,
        tools=tools,
    )
    await clock.run(session.run(line), limit_seconds=600)
    assert line.keys == ["1", "#"]
    assert transcript.said_by("agent")[0] == GREETING  # the tones are not words


@dataclass
class KeypadLine(FakeLine):
    """A scripted audio contact that also hears keypad tones in the agent's audio."""

    keys: list[str] = field(default_factory=list)
    detector: DtmfDetector = field(default_factory=DtmfDetector)

    async def send(self, frame: AudioFrame) -> None:
        self.keys += self.detector.feed(frame.pcm)
        await super().send(frame)


async def test_a_voicemail_message_is_left_after_the_beep_then_the_call_ends(
    mode: str,
) -> None:
    if mode == "audio":
        pytest.skip("the beep is audio from the sandbox: tests/engine/test_call_control.py")
    control = FakeControl()
    message = "Hi, this is Ava from Voxline Dental, please call us back. Goodbye!"
    done = await converse(
        mode,
        [
            ContactLine("You have reached the voicemail. Please leave a message after the beep."),
            ContactLine("*beep*"),
        ],
        [Reply("", tool_calls=(ToolCall("v", "leave_voicemail", "{}"),))],
        agent_tools=AgentTools(voicemail=VoicemailSettings(message)),
        control=control,
        hang_up_after_ms=None,
    )

    assert done.agent() == [GREETING, message]
    assert control.voicemails == 1
    assert done.closed_by == "agent"
    result = json.loads(tool_turns_of(done.session)[0].results[0].content)
    assert result == {"left": True, "beep_heard": True}


def tool_turns_of(session: CallSession) -> list[ToolTurn]:
    return [t for t in session.history if isinstance(t, ToolTurn)]
