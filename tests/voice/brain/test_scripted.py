"""The scripted brain: greeting, script lines, and polite endings."""

from __future__ import annotations

import pytest

from voxline.voice.brain.base import AgentProfile, Utterance
from voxline.voice.brain.scripted import (
    ANYTHING_ELSE,
    DEFAULT_GREETING,
    FAREWELL,
    NOT_INTERESTED_REPLY,
    SILENT_FAREWELL,
    STILL_THERE,
    STOP_CALLING_REPLY,
    ScriptedBrain,
    script_lines,
)

PROMPT = """You are Ava from {{company}}.
Be brief.
- Are you free on {{day}}?
* Shall I book {{time}} then?
1. Great, you'll get a text.
"""


def brain(greeting: str | None = "Hi {{first_name}}!") -> ScriptedBrain:
    return ScriptedBrain(
        AgentProfile(
            system_prompt=PROMPT,
            greeting=greeting,
            temperature=0.3,
            model="scripted",
            variables={"first_name": "Jane", "day": "Monday", "time": "10am"},
        )
    )


def said(text: str) -> list[Utterance]:
    return [Utterance("contact", text)]


def test_script_lines_are_the_bulleted_and_numbered_lines() -> None:
    assert script_lines(PROMPT) == [
        "Are you free on {{day}}?",
        "Shall I book {{time}} then?",
        "Great, you'll get a text.",
    ]


async def test_greets_with_the_rendered_greeting_or_a_default() -> None:
    assert (await brain().greet()).text == "Hi Jane!"
    assert (await brain(None).greet()).text == DEFAULT_GREETING


async def test_follows_the_script_then_offers_more_help() -> None:
    agent = brain()
    replies = [(await agent.respond(said("okay"))).text for _ in range(4)]
    assert replies == [
        "Are you free on Monday?",
        "Shall I book 10am then?",
        "Great, you'll get a text.",
        ANYTHING_ELSE,
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("No, that's all. Goodbye!", FAREWELL),
        ("ok bye", FAREWELL),
        ("I'm not interested, sorry", NOT_INTERESTED_REPLY),
        ("No thank you.", NOT_INTERESTED_REPLY),
        ("Please stop calling me", STOP_CALLING_REPLY),
        ("Remove my number from your list", STOP_CALLING_REPLY),
        ("Do not call this number again, not interested", STOP_CALLING_REPLY),
    ],
)
async def test_recognises_endings_and_closes_politely(reply: str, expected: str) -> None:
    answer = await brain().respond(said(reply))
    assert answer.text == expected
    assert answer.end_call


async def test_ordinary_replies_do_not_end_the_call() -> None:
    assert not (await brain().respond(said("Yes, Monday works."))).end_call


async def test_silence_is_asked_about_then_ends_the_call() -> None:
    agent = brain()
    first = await agent.on_silence(1)
    second = await agent.on_silence(2)
    assert (first.text, first.end_call) == (STILL_THERE, False)
    assert (second.text, second.end_call) == (SILENT_FAREWELL, True)
