"""The sandbox carrier on its own: events, personas and the text line, without a database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, PlacementState, ProviderCall, ProviderEvent
from voxline.telephony.sandbox.carrier import SandboxCarrier
from voxline.telephony.sandbox.line import TextLine, silence_timeout
from voxline.telephony.sandbox.personas import Behaviour, behaviour_for
from voxline.voice.brain.base import AgentProfile
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.session import CallSession, SessionConfig

SCALE = 0.01


@dataclass
class Recorder:
    events: list[ProviderEvent] = field(default_factory=list)
    turns: list[tuple[str, str, float]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def sink(self, event: ProviderEvent) -> None:
        self.events.append(event)
        if event.event not in (CallEvent.RINGING, CallEvent.ANSWERED):
            self.done.set()

    async def add(self, speaker: str, text: str, timestamp: float) -> None:
        self.turns.append((speaker, text, timestamp))

    @property
    def kinds(self) -> list[CallEvent]:
        return [e.event for e in self.events]


def profile() -> AgentProfile:
    return AgentProfile(
        system_prompt=(
            "You sell solar panels.\n- Would you like a free quote for solar panels at your home?"
        ),
        greeting="Hi {{first_name}}, this is Ava from Sunny Co.",
        temperature=0.3,
        model="scripted",
        variables={"first_name": "Jane"},
    )


def make_carrier(recorder: Recorder, tmp_path: Path | None = None) -> SandboxCarrier:
    async def on_answer(call_id: str, line: TextLine) -> None:
        session = CallSession(
            brain=ScriptedBrain(profile()),
            transcript=recorder,
            config=SessionConfig(silence_timeout_s=silence_timeout(6, SCALE)),
        )
        await session.run_text(line)

    return SandboxCarrier(
        events=recorder.sink,
        on_answer=on_answer,
        time_scale=SCALE,
        placements_log=tmp_path / "placements.log" if tmp_path else None,
    )


def request(to: str, call_id: str = "call-1") -> PlacementRequest:
    return PlacementRequest(
        call_id=call_id,
        org_id="org",
        agent_id="agent",
        to_number=to,
        from_number="+14155551000",
        provider_type="sandbox",
        join_timeout_seconds=30,
    )


async def place_and_wait(to: str, wait_seconds: float = 10) -> Recorder:
    recorder = Recorder()
    carrier = make_carrier(recorder)
    await carrier.place_call(request(to))
    await asyncio.wait_for(recorder.done.wait(), wait_seconds)
    await carrier.aclose()
    return recorder


@pytest.mark.parametrize(
    ("number", "behaviour"),
    [
        ("+14155550100", Behaviour.TALKER),
        ("+12125550101", Behaviour.BUSY),
        ("+14155550108", Behaviour.INTERRUPTER),
        ("+14155550199", Behaviour.TALKER),
        ("+14155550123", Behaviour.TALKER),
        ("+4420718387", Behaviour.TALKER),
    ],
)
def test_behaviour_is_chosen_by_the_last_digits(number: str, behaviour: Behaviour) -> None:
    assert behaviour_for(number) is behaviour


async def test_talker_converses_and_says_goodbye() -> None:
    recorder = await place_and_wait("+14155550100")
    assert recorder.kinds == [CallEvent.RINGING, CallEvent.ANSWERED, CallEvent.HANGUP]
    assert recorder.events[1].answered_by is AnsweredBy.HUMAN
    assert recorder.events[-1].end_reason is EndReason.AGENT_HANGUP
    speakers = [t[0] for t in recorder.turns]
    assert speakers[0] == "agent"
    assert recorder.turns[0][1] == "Hi Jane, this is Ava from Sunny Co."
    assert "contact" in speakers
    assert recorder.turns[-2][1].endswith("goodbye!")
    assert recorder.turns[-1][1] == "Thank you for your time. Goodbye!"
    timestamps = [t[2] for t in recorder.turns]
    assert timestamps == sorted(timestamps)


async def test_busy_line() -> None:
    recorder = await place_and_wait("+14155550101")
    assert recorder.kinds == [CallEvent.RINGING, CallEvent.BUSY]
    assert recorder.turns == []


async def test_voicemail_is_detected_as_a_machine() -> None:
    recorder = await place_and_wait("+14155550103")
    assert recorder.kinds[-1] is CallEvent.MACHINE_DETECTED
    assert recorder.events[-1].answered_by is AnsweredBy.MACHINE


async def test_not_in_service_fails_at_placement() -> None:
    carrier = make_carrier(Recorder())
    with pytest.raises(ProviderError) as caught:
        await carrier.place_call(request("+14155550104"))
    assert not caught.value.retryable
    assert "not in service" in caught.value.message


async def test_hangs_up_at_once() -> None:
    recorder = await place_and_wait("+14155550105")
    assert recorder.kinds[-1] is CallEvent.HANGUP
    assert recorder.events[-1].end_reason is EndReason.CONTACT_HANGUP


async def test_silent_callee_gets_asked_then_dropped() -> None:
    recorder = await place_and_wait("+14155550107")
    agent_lines = [t[1] for t in recorder.turns if t[0] == "agent"]
    assert "Are you still there?" in agent_lines
    assert agent_lines[-1].startswith("It seems I can't hear you")
    assert all(t[0] == "agent" for t in recorder.turns)
    assert recorder.events[-1].end_reason is EndReason.AGENT_HANGUP


async def test_interrupter_cuts_the_agent_short() -> None:
    recorder = await place_and_wait("+14155550108")
    greeting = recorder.turns[0]
    assert greeting[0] == "agent"
    assert greeting[1] != "Hi Jane, this is Ava from Sunny Co."
    assert "Hi Jane, this is Ava from Sunny Co.".startswith(greeting[1])


async def test_never_answers_until_hung_up() -> None:
    recorder = Recorder()
    carrier = make_carrier(recorder)
    provider_id = await carrier.place_call(request("+14155550102"))
    await asyncio.sleep(50 * SCALE)
    assert recorder.kinds == [CallEvent.RINGING]
    await carrier.hangup(ProviderCall("call-1", provider_id, None))
    await asyncio.wait_for(recorder.done.wait(), 5)
    assert recorder.kinds == [CallEvent.RINGING, CallEvent.HANGUP]


async def test_filibuster_talks_until_hung_up() -> None:
    recorder = Recorder()
    carrier = make_carrier(recorder)
    provider_id = await carrier.place_call(request("+14155550106"))
    await asyncio.sleep(200 * SCALE)
    assert recorder.kinds == [CallEvent.RINGING, CallEvent.ANSWERED]
    assert sum(1 for t in recorder.turns if t[0] == "contact") >= 2
    await carrier.hangup(ProviderCall("call-1", provider_id, None))
    await asyncio.wait_for(recorder.done.wait(), 5)
    assert recorder.kinds[-1] is CallEvent.HANGUP


async def test_placements_are_logged_for_recovery(tmp_path: Path) -> None:
    recorder = Recorder()
    first = make_carrier(recorder, tmp_path)
    await first.place_call(request("+14155550101", call_id="abc"))
    await first.aclose()
    # Another process of the same deployment can tell the call was dialed.
    second = make_carrier(Recorder(), tmp_path)
    assert await second.placement_state(ProviderCall("abc", None, None)) is PlacementState.PLACED
    assert (
        await second.placement_state(ProviderCall("never", None, None)) is PlacementState.NOT_PLACED
    )


async def test_keys_are_tones_on_the_line_and_a_call_not_live_is_not_transferred() -> None:
    carrier = make_carrier(Recorder())
    line = ProviderCall("call-1", "SBX1", None)
    try:
        assert await carrier.send_digits(line, "1#") is False
        with pytest.raises(ProviderError) as refused:
            await carrier.transfer(line, "+14155550123")
        assert refused.value.retryable is False
        assert refused.value.provider_code == "call_not_live"
        with pytest.raises(ProviderError):
            await carrier.send_digits(line, "one")
    finally:
        await carrier.aclose()
