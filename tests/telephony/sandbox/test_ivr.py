"""The phone menu (``0109``) in text mode: it hears keys, never words."""

from __future__ import annotations

import pytest

from tests.telephony.sandbox.harness import Agent, run_call
from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.telephony.sandbox.line import LineClosed
from voxline.telephony.sandbox.personas import (
    IVR_DEPARTMENTS,
    IVR_GOODBYE,
    IVR_INVALID,
    IVR_MENU,
    Behaviour,
    behaviour_for,
)

IVR = "+14155550109"


def test_0109_is_the_phone_menu() -> None:
    assert behaviour_for(IVR) is Behaviour.IVR
    assert behaviour_for("+12125550109") is Behaviour.IVR


async def test_pressing_1_reaches_appointments_who_want_to_book() -> None:
    async def agent(me: Agent) -> None:
        assert await me.hear() == IVR_MENU
        await me.press("1")
        assert await me.hear() == "You have reached appointments. How can I help you?"
        await me.line.say("Hi, this is Ava calling for Jane.")
        assert await me.hear() == "I'd like to book a check-up next week."
        await me.line.say("Sure, which day suits you?")
        assert await me.hear() == "Tuesday morning works for me."
        await me.line.say("You are booked for Tuesday at nine.")
        assert (await me.hear()).endswith("Goodbye!")
        await me.line.say("Goodbye!")
        me.line.hangup("agent")

    outcome = await run_call(IVR, agent)
    assert outcome.kinds == [CallEvent.RINGING, CallEvent.ANSWERED, CallEvent.HANGUP]
    assert outcome.events[1].answered_by is AnsweredBy.HUMAN
    assert outcome.events[-1].end_reason is EndReason.AGENT_HANGUP
    assert outcome.call.callee_said == [
        IVR_MENU,
        IVR_DEPARTMENTS["1"].greeting,
        *IVR_DEPARTMENTS["1"].lines,
    ]


async def test_words_are_ignored_and_a_wrong_key_repeats_the_menu() -> None:
    async def agent(me: Agent) -> None:
        assert await me.hear() == IVR_MENU
        await me.line.say("Billing, please.")
        await me.press("7")
        assert await me.hear() == IVR_INVALID
        assert await me.hear() == IVR_MENU
        await me.press("2")
        assert await me.hear() == "You have reached billing. How can I help you?"
        me.line.hangup("agent")

    outcome = await run_call(IVR, agent)
    assert outcome.call.callee_said == [
        IVR_MENU,
        IVR_INVALID,
        IVR_MENU,
        IVR_DEPARTMENTS["2"].greeting,
    ]
    assert outcome.events[-1].end_reason is EndReason.AGENT_HANGUP


async def test_no_key_plays_the_menu_again_then_hangs_up() -> None:
    async def agent(me: Agent) -> None:
        assert await me.hear() == IVR_MENU
        await me.line.say("Hello? I would like to talk to someone about appointments.")
        assert await me.hear() == IVR_MENU
        assert await me.hear() == IVR_GOODBYE
        with pytest.raises(LineClosed):
            await me.line.listen(5.0)

    outcome = await run_call(IVR, agent)
    assert outcome.call.callee_said == [IVR_MENU, IVR_MENU, IVR_GOODBYE]
    assert outcome.kinds[-1] is CallEvent.HANGUP
    assert outcome.events[-1].end_reason is EndReason.CONTACT_HANGUP
