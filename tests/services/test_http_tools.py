"""HTTP tool requests against a real server on loopback: every parameter location, the
Voxline headers, signatures verified with the standardwebhooks library, timeouts, errors,
non-JSON and oversized answers, and the SSRF guard."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.loopback import LoopbackServer
from voxline.config import Settings
from voxline.domain.tool_requests import CallFacts
from voxline.domain.tools import (
    AutomaticParameter,
    DynamicParameter,
    HttpTool,
    KnownValue,
    ParameterLocation,
    StaticParameter,
)
from voxline.domain.webhooks import new_secret, truedy_signature
from voxline.services.http_tools import HttpTools
from voxline.voice.brain.base import ToolCall, Utterance
from voxline.voice.tools import SessionTools, ToolFailed

SECRET = new_secret()
API_KEY = "sk-live-tool-secret-123"


@dataclass
class ToolServer:
    """Records requests; ``mode`` picks the answer."""

    mode: str = "json"
    seen: list[dict[str, Any]] = field(default_factory=list)
    base: str = ""

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        self.seen.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": dict(request.query_params),
                "headers": dict(request.headers),
                "raw": raw,
            }
        )
        if self.mode == "slow":
            await asyncio.sleep(5)
        if self.mode == "500":
            return JSONResponse({"detail": "boom"}, 500)
        if self.mode == "html":
            return Response("<html>oops</html>", media_type="text/html")
        if self.mode == "huge":
            return JSONResponse({"blob": "x" * 200_000})
        if self.mode == "redirect":
            return Response(status_code=302, headers={"Location": "http://169.254.169.254/"})
        return JSONResponse({"status": "shipped", "eta": "Tuesday"})


@pytest.fixture
async def server() -> AsyncIterator[ToolServer]:
    tool_server = ToolServer()
    app = Starlette(
        routes=[Route("/{path:path}", tool_server.handle, methods=["GET", "POST", "DELETE"])]
    )
    loopback = LoopbackServer(app)
    tool_server.base = await loopback.start()
    yield tool_server
    await loopback.stop()


def settings(allow_private: bool = True) -> Settings:
    return Settings(tools_allow_private_networks=allow_private, tools_max_response_bytes=65536)


FACTS = CallFacts("3f1c9d4e-0000-4000-8000-000000000001", "+14155550100", "+14155550123")
HISTORY = [Utterance("agent", "Hello!"), Utterance("contact", "Where is my order?")]


def order_tool(base: str, method: str = "POST", timeout: float = 10.0) -> HttpTool:
    return HttpTool(
        model_tool_name="lookup_order",
        description="Look an order up",
        url=base + "/shops/{shop}/orders",
        method=method,
        dynamic_parameters=(
            DynamicParameter("shop", ParameterLocation.PATH, {"type": "string"}, True),
            DynamicParameter("order", ParameterLocation.BODY, {"type": "string"}, True),
            DynamicParameter("verbose", ParameterLocation.QUERY, {"type": "boolean"}),
        ),
        static_parameters=(
            StaticParameter("X-Api-Key", ParameterLocation.HEADER, API_KEY),
            StaticParameter("source", ParameterLocation.BODY, "voice"),
        ),
        automatic_parameters=(
            AutomaticParameter("call", ParameterLocation.QUERY, KnownValue.CALL_ID),
            AutomaticParameter("caller", ParameterLocation.BODY, KnownValue.CALLER_NUMBER),
            AutomaticParameter("history", ParameterLocation.BODY, KnownValue.CONVERSATION_HISTORY),
        ),
        timeout_seconds=timeout,
    )


ARGS = {"shop": "north/east", "order": "42", "verbose": True}
CALL = ToolCall("call_1", "lookup_order", json.dumps(ARGS))


async def test_every_parameter_lands_where_its_definition_says(server: ToolServer) -> None:
    tools = HttpTools(settings(), FACTS, [SECRET])
    try:
        answer = await tools.run(order_tool(server.base), CALL, ARGS, HISTORY)
    finally:
        await tools.aclose()

    assert answer == {"status": "shipped", "eta": "Tuesday"}
    (seen,) = server.seen
    assert seen["method"] == "POST"
    assert seen["path"] == "/shops/north/east/orders" or seen["path"].endswith(
        "north%2Feast/orders"
    )
    assert seen["query"] == {"verbose": "true", "call": FACTS.call_id}
    assert seen["headers"]["x-api-key"] == API_KEY
    body = json.loads(seen["raw"])
    assert body == {
        "order": "42",
        "source": "voice",
        "caller": "+14155550100",
        "history": [
            {"speaker": "agent", "text": "Hello!"},
            {"speaker": "contact", "text": "Where is my order?"},
        ],
    }
    assert seen["headers"]["x-voxline-call-id"] == FACTS.call_id


async def test_requests_are_signed_like_webhooks_and_each_has_its_own_id(
    server: ToolServer,
) -> None:
    tools = HttpTools(settings(), FACTS, [SECRET])
    try:
        for _ in range(2):
            await tools.run(order_tool(server.base), CALL, ARGS, HISTORY)
    finally:
        await tools.aclose()

    ids = [seen["headers"]["x-voxline-tool-call-id"] for seen in server.seen]
    assert len(set(ids)) == 2
    for seen in server.seen:
        headers = seen["headers"]
        # Verified by the Standard Webhooks reference library and by the Truedy scheme.
        assert Webhook(SECRET).verify(seen["raw"], headers) is not None
        assert headers["webhook-id"] == headers["x-voxline-tool-call-id"]
        expected = truedy_signature(SECRET, int(headers["x-truedy-timestamp"]), seen["raw"])
        assert headers["x-truedy-signature"] == expected
    tampered = dict(server.seen[0]["headers"])
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(SECRET).verify(server.seen[0]["raw"] + b" ", tampered)


async def test_a_get_has_no_body_its_body_parameters_go_in_the_query(
    server: ToolServer,
) -> None:
    tools = HttpTools(settings(), FACTS, [])
    try:
        await tools.run(order_tool(server.base, method="GET"), CALL, ARGS, HISTORY)
    finally:
        await tools.aclose()

    (seen,) = server.seen
    assert seen["raw"] == b""
    assert seen["query"]["order"] == "42"
    assert "webhook-signature" not in seen["headers"]  # no endpoint: unsigned


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("500", "answered HTTP 500"),
        ("html", "not JSON"),
        ("huge", "over 65536 bytes"),
        ("redirect", "redirects are not followed"),
    ],
)
async def test_bad_answers_become_errors(server: ToolServer, mode: str, error: str) -> None:
    server.mode = mode
    tools = HttpTools(settings(), FACTS, [])
    try:
        with pytest.raises(ToolFailed, match=error):
            await tools.run(order_tool(server.base), CALL, ARGS, HISTORY)
    finally:
        await tools.aclose()


async def test_a_slow_tool_times_out_as_a_result_the_model_reads(server: ToolServer) -> None:
    server.mode = "slow"
    tool = order_tool(server.base, timeout=0.3)
    from voxline.domain.tools import AgentTools

    runner = HttpTools(settings(), FACTS, [])
    tools = SessionTools(AgentTools(http=(tool,)), None, runner, None)
    try:
        result = await tools.run_http(CALL, HISTORY)
    finally:
        await runner.aclose()

    assert "did not answer within 0.3s" in json.loads(result.content)["error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://10.0.0.8/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://localhost/x",
    ],
)
async def test_private_addresses_are_refused_unless_allowed(url: str) -> None:
    tool = HttpTool("t", "", url, "GET")
    tools = HttpTools(settings(allow_private=False), FACTS, [])
    with pytest.raises(ToolFailed, match="refused"):
        await tools.run(tool, ToolCall("c", "t", "{}"), {}, HISTORY)


async def test_nothing_secret_or_personal_is_logged(
    server: ToolServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tools = HttpTools(settings(), FACTS, [SECRET])
    try:
        await tools.run(order_tool(server.base), CALL, ARGS, HISTORY)
        server.mode = "500"
        with pytest.raises(ToolFailed) as failed:
            await tools.run(order_tool(server.base), CALL, ARGS, HISTORY)
    finally:
        await tools.aclose()

    # Voxline's own records (httpx's are not handled: Voxline's logging configures only the
    # "voxline" logger).
    ours = [r for r in caplog.records if r.name.startswith("voxline")]
    assert ours  # the answer is logged, without what it was about
    logged = " ".join(r.getMessage() + str(r.__dict__) for r in ours)
    for private in (API_KEY, SECRET, "+14155550100", "Where is my order", server.base):
        assert private not in logged
        assert private not in str(failed.value)
