"""The sandbox's text line: keys pressed reach the callee in order with what was said."""

from __future__ import annotations

import asyncio

import pytest

from tests.telephony.sandbox.harness import SCALE
from voxline.telephony.sandbox.line import (
    AgentUtterance,
    Keypress,
    LineClosed,
    TextLine,
    silence_timeout,
)


async def test_keys_reach_the_callee_in_order_with_words() -> None:
    line = TextLine(SCALE)
    await line.say("Appointments, please.")
    await line.press("1w2")
    await line.say("Thanks.")
    items = [await line.next_from_agent(1.0) for _ in range(4)]
    assert [i.text if isinstance(i, AgentUtterance) else i for i in items] == [
        "Appointments, please.",
        Keypress("1"),
        Keypress("2"),
        "Thanks.",
    ]
    assert await line.next_from_agent(0.05) is None


async def test_pressing_takes_as_long_as_the_tones() -> None:
    line = TextLine(1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await line.press("12")
    assert 0.35 < loop.time() - started < 1.0  # two keys of 120 ms tone and 80 ms gap


async def test_a_talker_does_not_hear_keys() -> None:
    line = TextLine(SCALE)
    await line.press("5")
    await line.say("Hello.")
    utterance = await line.next_agent_utterance()
    assert utterance.text == "Hello."


async def test_what_is_not_a_key_is_refused_and_a_closed_line_takes_none() -> None:
    line = TextLine(SCALE)
    with pytest.raises(ValueError):
        await line.press("1x")
    assert await line.next_from_agent(0.05) is None
    line.hangup("contact")
    with pytest.raises(LineClosed):
        await line.press("1")


def test_a_sped_up_silence_keeps_a_real_second() -> None:
    # 6 s at a 0.02 scale would be 120 ms: less than an event-loop stall on a busy machine.
    assert silence_timeout(6.0, 0.02) == 1.0
    assert silence_timeout(6.0, 1.0) == 6.0  # real time: the setting as it is
    assert silence_timeout(0.5, 0.02) == 0.5  # never longer than the setting itself
