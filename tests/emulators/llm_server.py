"""An OpenAI-compatible chat-completions server on loopback, for testing LLM clients.

It is a real HTTP server (Starlette under uvicorn, started inside the test's event loop on a
free port) that behaves like the servers Voxline talks to:

- ``POST /v1/chat/completions`` with ``Authorization: Bearer <api_key>`` (else 401), the
  expected ``model`` (else 404, as OpenAI answers an unknown model), well-formed
  ``messages``, ``tools`` that are function definitions, and ``stream: true`` (else 400);
- it answers with the next queued :class:`EmulatedReply` (or a default one) as an SSE stream
  of ``chat.completion.chunk`` objects ending with ``data: [DONE]``, the text split into
  several chunks and each tool call (``tool_calls``, then ``end_call``) split across two
  chunks, as OpenAI does;
- a conversation with tool calls must be well formed as OpenAI checks it: an assistant
  message with ``tool_calls`` is followed by one ``role: "tool"`` message per call id, and a
  tool message answers a call made just before it (else 400);
- a reply can instead fail with an HTTP status, or stall before its first chunk.

Every request body is kept in :attr:`LlmEmulator.requests` for assertions.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.loopback import LoopbackServer

API_KEY = "emulator-key"
MODEL = "emulated-model"
DEFAULT_TEXT = "Sure, I can help with that. What day suits you best?"


@dataclass
class EmulatedReply:
    """What the emulator answers to one request."""

    text: str = DEFAULT_TEXT
    chunk_chars: int = 7
    end_call: bool = False
    end_call_reason: str = "conversation finished"
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()  # (name, arguments)
    status: int = 200
    stall_seconds: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": code, "code": code}}, status)


def _problem(body: Any) -> str | None:
    """Why a request body is not a valid streaming chat-completions request, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    awaited: set[str] = set()
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "user",
            "assistant",
            "tool",
        ):
            return "every message needs a role of system, user, assistant or tool"
        role = message["role"]
        if role == "tool":
            if message.get("tool_call_id") not in awaited:
                return "a tool message must answer a tool call of the message before"
            awaited.discard(message["tool_call_id"])
            if not isinstance(message.get("content"), str):
                return "a tool message needs string content"
            continue
        if awaited:
            return "an assistant message with tool_calls must be followed by their results"
        calls = message.get("tool_calls")
        if role == "assistant" and calls:
            for call in calls:
                function = call.get("function") if isinstance(call, dict) else None
                if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
                    return "tool_calls need a function with string arguments"
                awaited.add(str(call.get("id")))
            if message.get("content") is not None and not isinstance(message["content"], str):
                return "content must be a string or null"
            continue
        if not isinstance(message.get("content"), str):
            return "every message needs string content"
    if awaited:
        return "an assistant message with tool_calls must be followed by their results"
    for tool in body.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(function, dict):
            return "tools must be functions"
        if not function.get("name") or not isinstance(function.get("parameters"), dict):
            return "every tool needs a name and JSON-schema parameters"
    temperature = body.get("temperature")
    if temperature is not None and not isinstance(temperature, int | float):
        return "temperature must be a number"
    if body.get("stream") is not True:
        return "this emulator only streams: stream must be true"
    return None


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    payload = {
        "id": "chatcmpl-emulated",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n"


async def _events(reply: EmulatedReply) -> AsyncIterator[str]:
    if reply.stall_seconds:
        await asyncio.sleep(reply.stall_seconds)
    yield _chunk({"role": "assistant", "content": ""})
    for start in range(0, len(reply.text), reply.chunk_chars):
        yield _chunk({"content": reply.text[start : start + reply.chunk_chars]})
    calls = list(reply.tool_calls)
    if reply.end_call:
        calls.append(("end_call", {"reason": reply.end_call_reason}))
    for index, (name, arguments) in enumerate(calls):
        call = {"index": index, "id": f"call_{index + 1}", "type": "function"}
        yield _chunk({"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]})
        text = json.dumps(arguments)
        half = len(text) // 2
        for part in (text[:half], text[half:]):
            yield _chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    yield _chunk({}, "tool_calls" if calls else "stop")
    yield "data: [DONE]\n\n"


class LlmEmulator:
    def __init__(self, *, api_key: str = API_KEY, model: str = MODEL) -> None:
        self.api_key = api_key
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.replies: deque[EmulatedReply] = deque()
        self.base_url = ""
        self._loopback: LoopbackServer | None = None
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])]
        )

    def queue(self, *replies: EmulatedReply) -> None:
        self.replies.extend(replies)

    async def _completions(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body is not JSON", "invalid_request_error")
        self.requests.append(body)
        problem = _problem(body)
        if problem:
            return _error(400, problem, "invalid_request_error")
        if body.get("model") != self.model:
            return _error(404, "The model does not exist", "model_not_found")
        reply = self.replies.popleft() if self.replies else EmulatedReply()
        if reply.status != 200:
            return _error(reply.status, "emulated failure", "server_error")
        return StreamingResponse(
            _events(reply), media_type="text/event-stream", headers=reply.headers
        )

    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL (``.../v1``)."""
        self._loopback = LoopbackServer(self.app)
        self.base_url = await self._loopback.start() + "/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._loopback is not None:
            await self._loopback.stop()
            self._loopback = None
