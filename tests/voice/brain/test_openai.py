"""The OpenAI-compatible brain, against a real streaming server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from tests.emulators.llm_server import API_KEY, MODEL, EmulatedReply, LlmEmulator
from voxline.config import Settings
from voxline.errors import ProviderError
from voxline.voice.brain.base import (
    AgentProfile,
    EndCall,
    ToolCall,
    ToolResult,
    ToolSpec,
    ToolTurn,
    Utterance,
)
from voxline.voice.brain.clauses import split_clauses
from voxline.voice.brain.openai import ChatClient, OpenAIBrain
from voxline.voice.brain.scripted import FAREWELL, SILENT_FAREWELL, STILL_THERE

PROMPT = "You are Ava, the receptionist of Bright Smile dental clinic."


@pytest.fixture(scope="module")
async def llm() -> AsyncIterator[LlmEmulator]:
    emulator = LlmEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def emulator(llm: LlmEmulator) -> LlmEmulator:
    llm.requests.clear()
    llm.replies.clear()
    return llm


@pytest.fixture
async def client(llm: LlmEmulator) -> AsyncIterator[ChatClient]:
    chat = ChatClient(llm.base_url, API_KEY)
    yield chat
    await chat.aclose()


def profile(greeting: str | None = None, model: str = MODEL) -> AgentProfile:
    return AgentProfile(
        system_prompt=PROMPT,
        greeting=greeting,
        temperature=0.4,
        model=model,
        variables={"name": "Sam"},
    )


HISTORY = [
    Utterance("agent", "Hello, Bright Smile, how can I help?"),
    Utterance("contact", "I'd like to book a cleaning."),
]


async def test_request_carries_prompt_history_tool_and_streaming(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    reply = await OpenAIBrain(profile(), client).respond(HISTORY)

    assert reply.text == "Sure, I can help with that. What day suits you best?"
    assert reply.end_call is False
    (body,) = emulator.requests
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["temperature"] == 0.4
    assert body["messages"] == [
        {"role": "system", "content": PROMPT},
        {"role": "assistant", "content": "Hello, Bright Smile, how can I help?"},
        {"role": "user", "content": "I'd like to book a cleaning."},
    ]
    assert [tool["function"]["name"] for tool in body["tools"]] == ["end_call"]


async def test_stream_yields_text_as_it_arrives_then_end_call(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    emulator.queue(EmulatedReply("Thanks for calling. Goodbye!", chunk_chars=4, end_call=True))

    pieces = [piece async for piece in OpenAIBrain(profile(), client).stream(HISTORY)]

    texts = [p for p in pieces if isinstance(p, str)]
    assert len(texts) > 3  # streamed, not one block
    assert "".join(texts) == "Thanks for calling. Goodbye!"
    assert pieces[-1] == EndCall("conversation finished")


async def test_streamed_reply_splits_into_clauses_for_speech(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    emulator.queue(
        EmulatedReply(
            "Of course, we have Tuesday at three or Wednesday at ten. Which one works?",
            chunk_chars=3,
            end_call=True,
        )
    )

    brain = OpenAIBrain(profile(), client)
    items = [item async for item in split_clauses(brain.stream(HISTORY))]

    assert items == [
        "Of course, we have Tuesday at three or Wednesday at ten.",
        "Which one works?",
        EndCall("conversation finished"),
    ]


async def test_end_call_without_words_still_says_goodbye(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    emulator.queue(EmulatedReply("", end_call=True))

    reply = await OpenAIBrain(profile(), client).respond(HISTORY)

    assert reply.text == FAREWELL
    assert reply.end_call is True


async def test_greeting_is_rendered_without_a_round_trip(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    reply = await OpenAIBrain(profile(greeting="Hi {{name}}!"), client).greet()

    assert reply.text == "Hi Sam!"
    assert emulator.requests == []


async def test_without_a_greeting_the_model_opens_the_call(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    emulator.queue(EmulatedReply("Hello, Bright Smile dental, Ava speaking."))

    reply = await OpenAIBrain(profile(), client).greet()

    assert reply.text == "Hello, Bright Smile dental, Ava speaking."
    assert emulator.requests[0]["messages"] == [{"role": "system", "content": PROMPT}]


async def test_silences_are_handled_locally(emulator: LlmEmulator, client: ChatClient) -> None:
    brain = OpenAIBrain(profile(), client)

    first, second = await brain.on_silence(1), await brain.on_silence(2)

    assert (first.text, first.end_call) == (STILL_THERE, False)
    assert (second.text, second.end_call) == (SILENT_FAREWELL, True)
    assert emulator.requests == []


async def test_server_error_is_a_retryable_provider_error_without_hanging(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    emulator.queue(EmulatedReply(status=500))

    async with asyncio.timeout(5):
        with pytest.raises(ProviderError) as caught:
            await OpenAIBrain(profile(), client).respond(HISTORY)

    assert caught.value.retryable is True
    assert caught.value.http_status == 500
    assert caught.value.provider == "llm"


async def test_wrong_key_is_a_permanent_error(emulator: LlmEmulator) -> None:
    chat = ChatClient(emulator.base_url, "not-the-key")
    try:
        with pytest.raises(ProviderError) as caught:
            await OpenAIBrain(profile(), chat).respond(HISTORY)
    finally:
        await chat.aclose()

    assert (caught.value.http_status, caught.value.retryable) == (401, False)


async def test_a_stalled_stream_times_out(emulator: LlmEmulator) -> None:
    emulator.queue(EmulatedReply(stall_seconds=3))
    timeout = httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0)
    chat = ChatClient(emulator.base_url, API_KEY, timeout=timeout)
    try:
        async with asyncio.timeout(5):
            with pytest.raises(ProviderError) as caught:
                await OpenAIBrain(profile(), chat).respond(HISTORY)
    finally:
        await chat.aclose()

    assert caught.value.retryable is True


async def test_unreachable_server_is_a_retryable_error() -> None:
    chat = ChatClient("http://127.0.0.1:9/v1", API_KEY)
    try:
        with pytest.raises(ProviderError) as caught:
            await OpenAIBrain(profile(), chat).respond(HISTORY)
    finally:
        await chat.aclose()

    assert caught.value.retryable is True


async def test_brain_from_settings_uses_the_deployment_server_and_model(
    emulator: LlmEmulator,
) -> None:
    settings = Settings(llm_base_url=emulator.base_url, llm_api_key=API_KEY, llm_model=MODEL)

    async with OpenAIBrain(profile(model=""), settings) as brain:
        reply = await brain.respond(HISTORY)

    assert reply.text.startswith("Sure")
    assert emulator.requests[0]["model"] == MODEL


async def test_summary_of_a_transcript(emulator: LlmEmulator, client: ChatClient) -> None:
    emulator.queue(EmulatedReply("The caller booked a cleaning for Tuesday."))

    summary = await OpenAIBrain(profile(), client).summarize(HISTORY)

    assert summary == "The caller booked a cleaning for Tuesday."
    (body,) = emulator.requests
    assert "tools" not in body
    assert "Contact: I'd like to book a cleaning." in body["messages"][1]["content"]


LOOKUP_SPEC = ToolSpec(
    "lookup_order",
    "Look an order up by its number",
    {"type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]},
)


def tooled_profile() -> AgentProfile:
    return replace(profile(), tools=(LOOKUP_SPEC,))


async def test_the_agents_tools_are_offered_as_functions(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    await OpenAIBrain(tooled_profile(), client).respond(HISTORY)

    (body,) = emulator.requests
    assert [tool["function"]["name"] for tool in body["tools"]] == ["end_call", "lookup_order"]
    assert body["tools"][1]["function"]["parameters"] == LOOKUP_SPEC.parameters


async def test_streamed_tool_calls_come_whole_one_or_several(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    emulator.queue(
        EmulatedReply("Let me check.", tool_calls=(("lookup_order", {"order": "42"}),)),
        EmulatedReply(
            "",
            tool_calls=(("lookup_order", {"order": "1"}), ("lookup_order", {"order": "2"})),
        ),
    )
    brain = OpenAIBrain(tooled_profile(), client)

    one = await brain.respond(HISTORY)
    several = [piece async for piece in brain.stream(HISTORY)]

    assert one.text == "Let me check."
    assert [(c.name, json.loads(c.arguments)) for c in one.tool_calls] == [
        ("lookup_order", {"order": "42"})
    ]
    assert one.end_call is False
    calls = [p for p in several if isinstance(p, ToolCall)]
    assert [json.loads(c.arguments) for c in calls] == [{"order": "1"}, {"order": "2"}]
    assert len({c.id for c in calls}) == 2


async def test_tool_results_go_back_as_tool_messages_the_server_accepts(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    call = ToolCall("call_9", "lookup_order", '{"order": "42"}')
    history = [
        *HISTORY,
        ToolTurn("Let me check.", (call,), (ToolResult("call_9", "lookup_order", '{"ok": 1}'),)),
    ]
    emulator.queue(EmulatedReply("It has shipped."))

    reply = await OpenAIBrain(tooled_profile(), client).respond(history)

    assert reply.text == "It has shipped."
    messages = emulator.requests[-1]["messages"]
    assert messages[-2] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order": "42"}'},
            }
        ],
    }
    assert messages[-1] == {"role": "tool", "tool_call_id": "call_9", "content": '{"ok": 1}'}


async def test_a_tool_call_left_without_its_result_is_refused_by_the_server(
    emulator: LlmEmulator, client: ChatClient
) -> None:
    """The emulator checks the protocol as OpenAI does; this is what the session's
    always-a-result rule protects against."""
    call = ToolCall("call_9", "lookup_order", '{"order": "42"}')
    history = [*HISTORY, ToolTurn("", (call,), ())]

    with pytest.raises(ProviderError, match="HTTP 400"):
        await OpenAIBrain(tooled_profile(), client).respond(history)
