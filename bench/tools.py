"""Tool calls: the platform's share of the wait a caller hears around an HTTP tool.

One process, real time, real sockets. Each iteration is a call held by a real
:class:`~voxline.voice.session.CallSession` on the audio path (20 ms media clock, VAD,
speech-to-text and text-to-speech from :mod:`voxline.testing`, instant and deterministic, so
model time is not what is measured) with the OpenAI-compatible brain talking to a minimal
streaming chat-completions server on loopback, and an HTTP tool on another loopback server:

1. the contact asks; the brain's first reply streams one ``lookup_order`` tool call;
2. the session runs it through :class:`~voxline.services.http_tools.HttpTools` (SSRF guard,
   signature, parameters) to the tool server, which answers at once;
3. the brain is asked again with the result and streams the answer, which is spoken.

Figures, per iteration:

- **call → request**: from the moment the LLM server wrote the end of the tool-call stream
  to the tool request's arrival at the tool server;
- **answer → audio**: from the moment the tool server answered to the first agent audio
  frame sent on the call's line (what the caller hears), minus the LLM server's own time to
  its first text chunk on the second request (zero work here, but measured and removed).

Baseline, same run: one plain ``httpx`` POST round trip from this process to the same tool
server. Target: p50 ≤ 50 ms for both figures on the development machine.

``python -m bench.tools [--iterations N]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.common import Stats, log, ratio
from voxline.config import Settings
from voxline.domain.tool_requests import CallFacts
from voxline.domain.tools import AgentTools, DynamicParameter, Filler, HttpTool, ParameterLocation
from voxline.services.http_tools import HttpTools
from voxline.testing import ContactLine, FakeLine, FakeStt, FakeTts, MemoryTranscript, fake_vad
from voxline.voice.brain.base import AgentProfile
from voxline.voice.brain.openai import ChatClient, OpenAIBrain
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.tools import SessionTools
from voxline.voice.transport import MediaTransport


@dataclass
class Marks:
    """Wall-clock times (``time.perf_counter``) of one iteration."""

    tool_call_sent: float = 0.0
    tool_request_arrived: float = 0.0
    tool_answered: float = 0.0
    answer_request_arrived: float = 0.0
    answer_first_chunk: float = 0.0
    first_audio_after_answer: float = 0.0


@dataclass
class Servers:
    marks: Marks = field(default_factory=Marks)
    requests: int = 0

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        marks = self.marks
        has_result = any(m.get("role") == "tool" for m in body["messages"])

        async def tool_call() -> Any:
            call = {"index": 0, "id": "call_1", "type": "function"}
            function = {"name": "lookup_order", "arguments": '{"order": "42"}'}
            yield self._chunk({"tool_calls": [{**call, "function": function}]})
            yield self._chunk({}, "tool_calls")
            marks.tool_call_sent = time.perf_counter()
            yield "data: [DONE]\n\n"

        async def answer() -> Any:
            marks.answer_first_chunk = time.perf_counter()
            yield self._chunk({"content": "Your order has shipped. "})
            yield self._chunk({"content": "It arrives on Tuesday."}, "stop")
            yield "data: [DONE]\n\n"

        if has_result:
            marks.answer_request_arrived = time.perf_counter()
        stream = answer() if has_result else tool_call()
        return StreamingResponse(stream, media_type="text/event-stream")

    async def tool(self, request: Request) -> Response:
        await request.body()
        self.marks.tool_request_arrived = time.perf_counter()
        self.requests += 1
        response = JSONResponse({"status": "shipped", "eta": "Tuesday"})
        self.marks.tool_answered = time.perf_counter()
        return response


class WatchedLine:
    """A :class:`FakeLine` that notes the first agent sound after the tool answered."""

    def __init__(self, line: FakeLine, marks: Marks) -> None:
        self.line = line
        self.marks = marks

    async def receive(self) -> Any:
        return await self.line.receive()

    async def send(self, frame: Any) -> None:
        marks = self.marks
        if (
            marks.tool_answered
            and not marks.first_audio_after_answer
            and any(frame.pcm)
            and time.perf_counter() > marks.tool_answered
        ):
            marks.first_audio_after_answer = time.perf_counter()
        await self.line.send(frame)

    async def clear(self) -> None:
        await self.line.clear()

    def hangup(self, by: str) -> None:
        self.line.hangup(by)

    @property
    def closed(self) -> bool:
        return self.line.closed


async def serve(app: Starlette) -> tuple[Any, str]:
    import socket

    import uvicorn

    sock = socket.socket()
    # Accepted connections inherit it: responses are not held back by Nagle's algorithm
    # waiting for the client's delayed ACK (40 ms on Linux loopback).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # it failed to start: say why
        await asyncio.sleep(0.01)
    return (server, task), f"http://127.0.0.1:{port}"


async def one_call(servers: Servers, llm_url: str, tool_url: str, http: httpx.AsyncClient) -> Marks:
    servers.marks = marks = Marks()
    tool = HttpTool(
        model_tool_name="lookup_order",
        description="Look an order up",
        url=tool_url + "/orders",
        method="POST",
        dynamic_parameters=(
            DynamicParameter("order", ParameterLocation.BODY, {"type": "string"}, True),
        ),
        filler=Filler(delay_seconds=5.0),
    )
    settings = Settings(tools_allow_private_networks=True)
    # One connection pool for every call's tools, as the engine shares it (VoiceSessions).
    runner = HttpTools(
        settings, CallFacts("bench-call", None, None), ["whsec_" + "A" * 44], client=http
    )
    tools = SessionTools(AgentTools(http=(tool,)), None, runner, None)
    client = ChatClient(llm_url, "bench")
    profile = AgentProfile("You are Ava.", "Hi.", 0.2, "bench", {}, tools=tools.specs())
    stt = FakeStt()
    line = FakeLine([ContactLine("Where is my order?")], stt, hang_up_after_ms=600)
    session = CallSession(
        brain=OpenAIBrain(profile, client),
        transcript=MemoryTranscript(),
        stt=stt,
        tts=FakeTts(),
        vad=fake_vad(),
        config=SessionConfig(silence_timeout_s=30),
        tools=tools,
    )
    transport: MediaTransport = WatchedLine(line, marks)
    try:
        await asyncio.wait_for(session.run(transport), timeout=30)
    finally:
        await runner.aclose()
        await client.aclose()
    return marks


async def baseline(tool_url: str, rounds: int) -> list[float]:
    times = []
    async with httpx.AsyncClient() as client:
        for _ in range(rounds):
            started = time.perf_counter()
            await client.post(tool_url + "/orders", json={"order": "42"})
            times.append(time.perf_counter() - started)
    return times


async def run(iterations: int) -> dict[str, Any]:
    servers = Servers()
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", servers.completions, methods=["POST"]),
            Route("/orders", servers.tool, methods=["POST"]),
        ]
    )
    (server, task), url = await serve(app)
    try:
        base = await baseline(url, max(20, iterations))
        to_request: list[float] = []
        to_audio: list[float] = []
        http = httpx.AsyncClient(follow_redirects=False)
        for _ in range(iterations):
            marks = await one_call(servers, url + "/v1", url, http)
            if not (marks.tool_request_arrived and marks.first_audio_after_answer):
                log("an iteration did not complete; skipped")
                continue
            to_request.append(marks.tool_request_arrived - marks.tool_call_sent)
            llm_time = marks.answer_first_chunk - marks.answer_request_arrived
            to_audio.append(marks.first_audio_after_answer - marks.tool_answered - llm_time)
        await http.aclose()
    finally:
        server.should_exit = True
        await task
    baseline_stats = Stats.of(base)
    results = {
        "baseline_http_round_trip": baseline_stats.as_dict(),
        "tool_call_to_request": Stats.of(to_request).as_dict(),
        "tool_answer_to_first_audio": Stats.of(to_audio).as_dict(),
    }
    for name in ("tool_call_to_request", "tool_answer_to_first_audio"):
        results[name]["p50_vs_baseline"] = ratio(results[name]["p50_ms"], baseline_stats.p50)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args()
    results = asyncio.run(run(args.iterations))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
