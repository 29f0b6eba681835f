"""Transfers on the sandbox, with the caller who asks for a person (``0110``): a transfer
hands the caller to a person at the destination and the call goes on without the agent; a
transfer to nobody fails and the call goes on with the agent."""

from __future__ import annotations

import pytest

from tests.telephony.sandbox.harness import Agent, run_call
from voxline.domain.calls import CallEvent, EndReason
from voxline.errors import ProviderError
from voxline.telephony.sandbox.line import LineClosed
from voxline.telephony.sandbox.personas import TRANSFER_SCRIPT, Behaviour, behaviour_for

WANTS_PERSON = "+14155550110"
ASKS = "Hi. Can I speak to a real person, please?"
INSISTS = "I really need to talk to a human."


def test_0110_asks_for_a_person_and_0111_never_answers() -> None:
    assert behaviour_for(WANTS_PERSON) is Behaviour.WANTS_PERSON
    assert behaviour_for("+14155550111") is Behaviour.UNREACHABLE


async def test_without_a_transfer_the_caller_insists_then_gives_up_and_hangs_up() -> None:
    async def agent(me: Agent) -> None:
        await me.line.say("Hi, this is Ava from Acme Health.")
        assert await me.hear() == ASKS
        await me.line.say("I can help you with that myself.")
        assert await me.hear() == INSISTS
        await me.line.say("I am sorry, I am the only one here.")
        assert (await me.hear()).endswith("Goodbye.")
        with pytest.raises(LineClosed):
            await me.line.listen(5.0)

    outcome = await run_call(WANTS_PERSON, agent)
    assert outcome.kinds == [CallEvent.RINGING, CallEvent.ANSWERED, CallEvent.HANGUP]
    assert outcome.events[-1].end_reason is EndReason.CONTACT_HANGUP
    assert outcome.call.transfer is None


@pytest.mark.parametrize("destination", ["+14155550123", "sip:front-desk@example.com"])
async def test_a_transfer_leaves_the_caller_talking_with_the_destination(
    destination: str,
) -> None:
    async def agent(me: Agent) -> None:
        await me.line.say("Hi, this is Ava from Acme Health.")
        assert await me.hear() == ASKS
        await me.line.say("Of course, let me put you through.")
        await me.transfer(destination)
        with pytest.raises(LineClosed):
            await me.line.say("Are you still there?")

    outcome = await run_call(WANTS_PERSON, agent)
    # When the agent's side ended, the caller was still on the line, with the destination,
    # and the agent had not hung up.
    assert outcome.agent_left == {"closed_by": "transfer", "transfer_connected": True}
    transfer = outcome.call.transfer
    assert transfer is not None
    assert transfer.destination == destination
    assert transfer.lines == list(TRANSFER_SCRIPT)
    assert transfer.lines[0] == (
        "destination",
        "Hi, this is Sam at the front desk. How can I help?",
    )
    assert transfer.ended_by == "contact"
    assert not outcome.call.hangup_requested.is_set()
    assert outcome.call.callee_said == [ASKS]
    assert outcome.kinds == [CallEvent.RINGING, CallEvent.ANSWERED, CallEvent.HANGUP]
    assert outcome.events[-1].end_reason is EndReason.CONTACT_HANGUP


async def test_the_carrier_keeps_the_transfer_by_provider_call_id() -> None:
    async def agent(me: Agent) -> None:
        await me.line.say("Hi.")
        await me.hear()
        await me.transfer("+14155550123")
        assert me.call.provider_call_id in me.carrier.transfers
        assert me.carrier.transfers[me.call.provider_call_id].connected

    outcome = await run_call(WANTS_PERSON, agent)
    assert outcome.call.transfer is not None and not outcome.call.transfer.connected


async def test_hanging_up_a_transferred_call_ends_the_bridge() -> None:
    async def agent(me: Agent) -> None:
        await me.line.say("Hi.")
        await me.hear()
        await me.transfer("+14155550123")
        await me.carrier.hangup(me.call)

    outcome = await run_call(WANTS_PERSON, agent)
    assert outcome.call.transfer is not None
    assert outcome.call.transfer.ended_by == "agent"
    assert len(outcome.call.transfer.lines) < len(TRANSFER_SCRIPT)
    assert outcome.events[-1].end_reason is EndReason.AGENT_HANGUP


@pytest.mark.parametrize(
    "destination", ["+14155550111", "+14155550101", "+14155550102", "+14155550104"]
)
async def test_a_transfer_to_nobody_fails_and_the_call_goes_on(destination: str) -> None:
    refusals: list[ProviderError] = []

    async def agent(me: Agent) -> None:
        await me.line.say("Hi, this is Ava from Acme Health.")
        assert await me.hear() == ASKS
        with pytest.raises(ProviderError) as refused:
            await me.transfer(destination)
        refusals.append(refused.value)
        await me.line.say("I am sorry, nobody is answering at the front desk.")
        assert await me.hear() == INSISTS
        me.line.hangup("agent")

    outcome = await run_call(WANTS_PERSON, agent)
    assert refusals[0].retryable is False
    assert refusals[0].provider_code == "transfer_failed"
    assert "did not answer" in refusals[0].message
    assert outcome.call.transfer is None
    assert outcome.events[-1].end_reason is EndReason.AGENT_HANGUP


async def test_a_destination_that_is_not_a_number_is_refused() -> None:
    async def agent(me: Agent) -> None:
        with pytest.raises(ProviderError) as refused:
            await me.transfer("front desk")
        assert refused.value.retryable is False
        me.line.hangup("agent")

    outcome = await run_call(WANTS_PERSON, agent)
    assert outcome.call.transfer is None
