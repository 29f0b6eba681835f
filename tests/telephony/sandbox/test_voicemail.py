"""The answering machine (``0103``): with ``leave_voicemail`` it beeps, is detected right after
the beep and records the agent's message; without, it is detected and the call ends."""

from __future__ import annotations

import pytest

from tests.telephony.sandbox.harness import Agent, run_call
from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.telephony.sandbox.line import LineClosed
from voxline.telephony.sandbox.personas import BEEP_TEXT, VOICEMAIL_PROMPT

MACHINE = "+14155550103"
MESSAGE = "Hi Jane, this is Ava from Acme Health. Please call us back about Thursday."


async def test_the_agent_leaves_a_message_after_the_beep() -> None:
    async def agent(me: Agent) -> None:
        await me.line.say("Hello?")  # before the beep: not recorded
        assert await me.hear() == VOICEMAIL_PROMPT
        assert await me.hear() == BEEP_TEXT
        await me.line.say(MESSAGE)
        me.line.hangup("agent")

    outcome = await run_call(MACHINE, agent, leave_voicemail=True)
    assert outcome.kinds == [
        CallEvent.RINGING,
        CallEvent.ANSWERED,
        CallEvent.MACHINE_DETECTED,
        CallEvent.HANGUP,
    ]
    answered, detected = outcome.events[1], outcome.events[2]
    assert answered.answered_by is AnsweredBy.UNKNOWN
    assert detected.answered_by is AnsweredBy.MACHINE
    assert detected.cause == "machine_end_beep"
    assert detected.end_reason is EndReason.VOICEMAIL
    # Detected once the beep was played, not before.
    assert outcome.said_at_event[1] == []
    assert outcome.said_at_event[2] == [VOICEMAIL_PROMPT, BEEP_TEXT]
    assert outcome.call.voicemail_message == MESSAGE
    assert outcome.events[-1].end_reason is EndReason.AGENT_HANGUP


async def test_the_machine_hangs_up_after_a_silence() -> None:
    async def agent(me: Agent) -> None:
        await me.hear()
        await me.hear()
        await me.line.say(MESSAGE)
        await me.line.say("Goodbye.")
        with pytest.raises(LineClosed):
            await me.line.listen(10.0)

    outcome = await run_call(MACHINE, agent, leave_voicemail=True)
    assert outcome.call.voicemail_message == f"{MESSAGE} Goodbye."
    assert outcome.events[-1].end_reason is EndReason.CONTACT_HANGUP


async def test_hanging_up_before_the_beep_leaves_no_message() -> None:
    async def agent(me: Agent) -> None:
        await me.line.say(MESSAGE)
        me.line.hangup("agent")

    outcome = await run_call(MACHINE, agent, leave_voicemail=True)
    assert CallEvent.MACHINE_DETECTED not in outcome.kinds
    assert outcome.call.voicemail_message == ""
    assert outcome.events[-1].end_reason is EndReason.AGENT_HANGUP


async def test_without_leave_voicemail_the_machine_is_detected_and_no_agent_runs() -> None:
    async def agent(me: Agent) -> None:
        raise AssertionError("the agent must not be connected")

    outcome = await run_call(MACHINE, agent)
    assert outcome.kinds == [CallEvent.RINGING, CallEvent.MACHINE_DETECTED]
    assert outcome.events[-1].answered_by is AnsweredBy.MACHINE
    assert outcome.events[-1].end_reason is EndReason.VOICEMAIL
    assert outcome.call.voicemail is None
    assert outcome.call.voicemail_message is None
