"""The scripted brain: greeting, script lines, and polite endings."""

from __future__ import annotations

import json

import pytest

from voxline.voice.brain.base import (
    AgentProfile,
    Reply,
    ToolResult,
    ToolSpec,
    ToolTurn,
    Turn,
    Utterance,
)
from voxline.voice.brain.scripted import (
    ANYTHING_ELSE,
    DEFAULT_GREETING,
    FAREWELL,
    NOT_INTERESTED_REPLY,
    SILENT_FAREWELL,
    STILL_THERE,
    STOP_CALLING_REPLY,
    TOOL_FAILED_REPLY,
    TRANSFER_FAILED_REPLY,
    ScriptedBrain,
    menu_options,
    script_lines,
)
from voxline.voice.speculation import replayable

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


def test_it_may_be_asked_ahead() -> None:
    assert replayable(brain())


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


async def converse(agent: ScriptedBrain, *lines: str) -> list[str]:
    """The agent's replies to ``lines``, each asked with the conversation so far."""
    history: list[Turn] = [Utterance("agent", (await agent.greet()).text)]
    replies = []
    for line in lines:
        history.append(Utterance("contact", line))
        reply = await agent.respond(history)
        history.append(Utterance("agent", reply.text))
        replies.append(reply.text)
    return replies


async def test_follows_the_script_then_offers_more_help() -> None:
    assert await converse(brain(), "okay", "okay", "okay", "okay") == [
        "Are you free on Monday?",
        "Shall I book 10am then?",
        "Great, you'll get a text.",
        ANYTHING_ELSE,
    ]


async def test_its_reply_depends_on_the_history_alone() -> None:
    agent = brain()
    history: list[Turn] = [Utterance("agent", "Hi Jane!"), Utterance("contact", "okay")]
    # Asked ahead and thrown away, then asked again: the same line, not the next one.
    first = await agent.respond(history)
    again = await agent.respond(history)
    assert first == again == Reply("Are you free on Monday?")
    # A reply that ended the turn or called a built-in is no script line: not counted.
    assert await converse(brain(), "okay", "Sorry, what?", "sure") == [
        "Are you free on Monday?",
        "Shall I book 10am then?",
        "Great, you'll get a text.",
    ]
    assert await converse(tooled("transfer_call"), "Put me through to a human.", "Fine.") == [
        "",
        "Let me check.",
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


TOOL_PROMPT = """You are Ava. When a phone menu answers, choose appointments.
- Let me check. [lookup_order {"order": "{{order}}"}] Your order is {{lookup_order.status}}.
- Anything else?
"""


def tooled(*names: str) -> ScriptedBrain:
    return ScriptedBrain(
        AgentProfile(
            system_prompt=TOOL_PROMPT,
            greeting=None,
            temperature=0.3,
            model="scripted",
            variables={"order": "42"},
            tools=tuple(ToolSpec(n, "", {"type": "object"}) for n in names),
        )
    )


async def test_a_script_line_calls_its_tool_and_speaks_from_the_result() -> None:
    agent = tooled("lookup_order")
    reply = await agent.respond(said("Where is my order?"))

    assert reply.text == "Let me check."
    (call,) = reply.tool_calls
    assert (call.name, json.loads(call.arguments)) == ("lookup_order", {"order": "42"})
    assert call.id == "call_1"
    result = ToolResult(call.id, call.name, '{"status": "shipped"}')
    history: list[Turn] = [*said("Where is my order?"), ToolTurn(reply.text, (call,), (result,))]
    after = await agent.respond(history)
    assert after == Reply("Your order is shipped.")
    history += [Utterance("agent", after.text), *said("Thanks.")]
    assert (await agent.respond(history)).text == "Anything else?"


async def test_a_failed_tool_is_owned_up_to() -> None:
    agent = tooled("lookup_order")
    reply = await agent.respond(said("Where is my order?"))
    (call,) = reply.tool_calls
    failed = ToolResult(call.id, call.name, '{"error": "the tool answered HTTP 500"}')

    after = await agent.respond([ToolTurn(reply.text, (call,), (failed,))])

    assert after == Reply(TOOL_FAILED_REPLY)


async def test_built_ins_follow_what_the_contact_says_only_when_enabled() -> None:
    enabled = tooled("transfer_call", "send_dtmf", "leave_voicemail")
    plain = tooled()

    person = await enabled.respond(said("Can I speak to a real person, please?"))
    menu = await enabled.respond(said("For appointments, press 1. For billing, press 2."))
    machine = await enabled.respond(said("Please leave a message after the beep."))

    assert [c.name for c in person.tool_calls] == ["transfer_call"]
    assert [json.loads(c.arguments) for c in menu.tool_calls] == [{"digits": "1"}]
    assert [c.name for c in machine.tool_calls] == ["leave_voicemail"]
    for text in ("Can I speak to a real person?", "For appointments, press 1."):
        assert (await plain.respond(said(text))).tool_calls == ()


async def test_a_failed_transfer_is_said_to_have_failed() -> None:
    agent = tooled("transfer_call")
    reply = await agent.respond(said("I want a human."))
    (call,) = reply.tool_calls
    failed = ToolResult(call.id, call.name, '{"error": "the transfer failed"}')

    assert await agent.respond([ToolTurn("", (call,), (failed,))]) == Reply(TRANSFER_FAILED_REPLY)


def test_menu_options_are_read_either_way_round() -> None:
    assert menu_options("For appointments, press 1. Press 2 for billing.") == {
        "appointments": "1",
        "billing": "2",
    }
    assert menu_options("Thanks for calling, goodbye.") == {}
