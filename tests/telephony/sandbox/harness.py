"""A sandbox carrier whose agent side is a small script written in the test, in text mode."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from voxline.domain.calls import CallEvent
from voxline.telephony.base import PlacementRequest, ProviderCall, ProviderEvent
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import SandboxCarrier, SimulatedCall
from voxline.telephony.sandbox.line import TextLine

SCALE = 0.01
# Real seconds an agent script waits to hear the callee (its lines take milliseconds).
HEAR_WITHIN = 5.0


@dataclass
class Agent:
    """The agent's side of one call, for a test's script."""

    line: TextLine
    carrier: SandboxCarrier
    call: ProviderCall

    async def hear(self) -> str:
        heard = await self.line.listen(HEAR_WITHIN)
        assert heard is not None, "the callee said nothing"
        return heard.text

    async def press(self, digits: str) -> None:
        await self.line.press(digits)

    async def transfer(self, destination: str) -> None:
        await self.carrier.transfer(self.call, destination)


Script = Callable[[Agent], Awaitable[None]]


@dataclass
class Outcome:
    events: list[ProviderEvent]
    call: SimulatedCall
    # What each event saw the callee had said when it was emitted.
    said_at_event: list[list[str]]
    # The call as it was the moment the agent's script returned.
    agent_left: dict[str, object] = field(default_factory=dict)

    @property
    def kinds(self) -> list[CallEvent]:
        return [e.event for e in self.events]


def request(to: str, *, leave_voicemail: bool = False) -> PlacementRequest:
    return PlacementRequest(
        call_id="call-1",
        org_id="org",
        agent_id="agent",
        to_number=to,
        from_number="+14155551000",
        provider_type="sandbox",
        join_timeout_seconds=30,
        leave_voicemail=leave_voicemail,
    )


async def run_call(
    to: str, script: Script, *, leave_voicemail: bool = False, within: float = 20.0
) -> Outcome:
    """Place a call to ``to`` with ``script`` as the agent and wait until the sandbox is done
    with it."""
    events: list[ProviderEvent] = []
    said_at_event: list[list[str]] = []
    agent_left: dict[str, object] = {}
    provider_ids: list[str] = []
    failures: list[Exception] = []
    ended = asyncio.Event()

    async def sink(event: ProviderEvent) -> None:
        events.append(event)
        said_at_event.append(list(carrier.calls[provider_ids[0]].callee_said))
        machine_ends = event.event is CallEvent.MACHINE_DETECTED and not leave_voicemail
        if event.event in (CallEvent.HANGUP, CallEvent.BUSY, CallEvent.FAILED) or machine_ends:
            ended.set()

    async def on_answer(call_id: str, line: TextLine | AudioEnd) -> None:
        assert isinstance(line, TextLine)
        call_ref = ProviderCall(call_id, provider_ids[0], None)
        try:
            await script(Agent(line, carrier, call_ref))
        except Exception as error:
            failures.append(error)
            raise
        call = carrier.calls[provider_ids[0]]
        agent_left["closed_by"] = line.closed_by
        agent_left["transfer_connected"] = call.transfer is not None and call.transfer.connected

    carrier = SandboxCarrier(events=sink, on_answer=on_answer, time_scale=SCALE)
    try:
        provider_ids.append(await carrier.place_call(request(to, leave_voicemail=leave_voicemail)))
        await asyncio.wait_for(ended.wait(), within)
    finally:
        await carrier.aclose()
    if failures:
        raise failures[0]
    return Outcome(events, carrier.calls[provider_ids[0]], said_at_event, agent_left)
