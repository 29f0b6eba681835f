"""An agent on an LLM server calls an HTTP tool, through the engine: the model's streamed
tool call becomes a signed request to the customer's server, its answer goes back to the
model as a tool message, and the call's timeline shows the invocation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import API
from tests.emulators.llm_server import API_KEY, MODEL, EmulatedReply, LlmEmulator
from tests.emulators.loopback import LoopbackServer
from tests.engine.conftest import TIME_SCALE, Phone
from tests.factories import Tenant, app_for, insert_agent, insert_number
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database

SECRET_HEADER = "Bearer shop-key-123"


class Shop:
    """The customer's order server."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], bytes, str]] = []
        self.base = ""

    async def order(self, request: Request) -> Response:
        raw = await request.body()
        self.seen.append((dict(request.headers), raw, request.url.path))
        return JSONResponse({"status": "shipped", "eta": "Tuesday"})


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    server = Shop()
    app = Starlette(routes=[Route("/orders/{order}", server.order, methods=["POST"])])
    loopback = LoopbackServer(app)
    server.base = await loopback.start()
    yield server
    await loopback.stop()


@pytest.fixture
async def llm() -> AsyncIterator[LlmEmulator]:
    emulator = LlmEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def llm_phone(
    db: Database, settings: Settings, tenant: Tenant, llm: LlmEmulator
) -> AsyncIterator[Phone]:
    tool_settings = settings.model_copy(
        update={
            "llm_base_url": llm.base_url,
            "llm_api_key": API_KEY,
            "llm_model": MODEL,
            "sandbox_time_scale": TIME_SCALE,
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
            "tools_allow_private_networks": True,
            "webhooks_allow_private_networks": True,
        }
    )
    engine = Engine(db, tool_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    agent_id = await insert_agent(
        db, tenant.org_id, model=MODEL, system_prompt="You are Ava.", greeting="Hi, Ava here."
    )
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent_id)
    app = app_for(tool_settings, db=db, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield Phone(http, tenant, agent_id)
    stop.set()
    await asyncio.wait_for(task, 30)


async def post(phone: Phone, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await phone.client.post(f"{API}{path}", json=body, headers=phone.tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def test_the_model_calls_an_http_tool_and_speaks_from_its_answer(
    llm_phone: Phone, llm: LlmEmulator, shop: Shop
) -> None:
    phone = llm_phone
    endpoint = await post(
        phone, "/webhooks", {"url": shop.base + "/hooks", "event_types": ["call.ended"]}
    )
    tool = await post(
        phone,
        "/tools",
        {
            "name": "lookup_order",
            "definition": {
                "description": "Look an order up by its number",
                "http": {"baseUrlPattern": shop.base + "/orders/{order}", "httpMethod": "POST"},
                "dynamicParameters": [
                    {
                        "name": "order",
                        "location": "path",
                        "schema": {"type": "string"},
                        "required": True,
                    }
                ],
                "staticParameters": [
                    {"name": "Authorization", "location": "header", "value": SECRET_HEADER}
                ],
                "automaticParameters": [
                    {"name": "call", "location": "body", "knownValue": "KNOWN_PARAM_CALL_ID"}
                ],
            },
        },
    )
    response = await phone.client.patch(
        f"{API}/agents/{phone.agent_id}",
        json={"tools": [{"tool_id": tool["id"]}]},
        headers=phone.tenant.headers,
    )
    assert response.status_code == 200, response.text
    llm.queue(
        EmulatedReply("Let me check.", tool_calls=(("lookup_order", {"order": "42"}),)),
        EmulatedReply("Your order has shipped and arrives Tuesday. Goodbye!", end_call=True),
        EmulatedReply("The caller's order 42 has shipped."),  # the summary
    )

    created = await phone.call("+14155550100")
    call_id = created.json()["data"]["id"]
    call = await phone.wait_finished(call_id)

    assert call["status"] == "completed"
    (headers, raw, path) = shop.seen[0]
    assert path == "/orders/42"
    assert headers["authorization"] == SECRET_HEADER
    assert headers["x-voxline-call-id"] == call_id
    assert json.loads(raw) == {"call": call_id}
    assert Webhook(endpoint["secret"]).verify(raw, headers) is not None
    # The model offered the tool, then read its answer as a tool message.
    offered = [t["function"]["name"] for t in llm.requests[0]["tools"]]
    assert offered == ["end_call", "lookup_order"]
    tool_message = llm.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert json.loads(tool_message["content"]) == {"status": "shipped", "eta": "Tuesday"}
    transcript = await phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=phone.tenant.headers
    )
    agent = [t["text"] for t in transcript.json()["data"]["transcript"] if t["speaker"] == "agent"]
    assert agent[-2:] == ["Let me check.", "Your order has shipped and arrives Tuesday. Goodbye!"]
    events = await phone.client.get(f"{API}/calls/{call_id}/events", headers=phone.tenant.headers)
    (invocation,) = [e for e in events.json()["data"]["events"] if e["type"] == "call.tool_called"]
    assert invocation["data"]["name"] == "lookup_order"
    assert invocation["data"]["outcome"] == "ok"
    assert json.loads(invocation["data"]["arguments"]) == {"order": "42"}
    assert invocation["data"]["latency_ms"] >= 0
    assert SECRET_HEADER not in events.text
