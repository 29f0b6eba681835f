"""The SDK's tools, webhooks and call timeline against a live server, and
``verify_webhook`` against the signatures the server's delivery code makes."""

from __future__ import annotations

import json
import time

import pytest

from tests.client.conftest import TO, LiveApi
from voxline.client import Conflict, NotFound, Voxline, WebhookVerificationFailed, verify_webhook
from voxline.domain.webhooks import new_secret, signed_headers


def client_for(live: LiveApi) -> Voxline:
    return Voxline(live.base_url, live.tenant.api_key, timeout=10)


DEFINITION = {
    "description": "Look an order up",
    "http": {"baseUrlPattern": "https://shop.example/orders/{order}", "httpMethod": "GET"},
    "dynamicParameters": [
        {"name": "order", "location": "path", "schema": {"type": "string"}, "required": True}
    ],
    "staticParameters": [{"name": "X-Key", "location": "header", "value": "sk-hidden"}],
}


async def test_tools_webhooks_and_the_timeline_through_the_sdk(live: LiveApi) -> None:
    with client_for(live) as vx:
        tool = vx.tools.create("lookup_order", DEFINITION)
        assert tool.url == "https://shop.example/orders/{order}"
        assert "sk-hidden" not in json.dumps(tool.definition)
        assert vx.tools.update(tool.id, name="find_order").name == "find_order"
        assert [t.id for t in vx.tools.iter(name="find")] == [tool.id]
        vx.agents.update(live.agent_id, tools=[{"tool_id": tool.id}])
        with pytest.raises(Conflict):  # an agent uses it
            vx.tools.delete(tool.id)
        vx.agents.update(live.agent_id, tools=[])
        assert vx.tools.delete(tool.id).deleted
        with pytest.raises(NotFound):
            vx.tools.get(tool.id)

        endpoint = vx.webhooks.create("https://hooks.example/voxline", ["call.ended"])
        assert endpoint.secret.startswith("whsec_")
        assert vx.webhooks.get(endpoint.id).event_types == ["call.ended"]
        assert vx.webhooks.update(endpoint.id, enabled=False).enabled is False
        assert vx.webhooks.delete(endpoint.id).deleted

        call = vx.calls.create(live.agent_id, TO)
        timeline = vx.calls.events(call.id)
        assert [e.type for e in timeline.events] == ["call.queued"]


def test_verify_webhook_accepts_either_signature_and_refuses_a_forgery() -> None:
    secret = new_secret()
    body = json.dumps({"event": "call.ended", "id": "evt_1"}).encode()
    now = int(time.time())
    headers = signed_headers([secret], "evt_1", now, body)
    standard = {k: v for k, v in headers.items() if k.startswith("webhook-")}
    truedy = {k: v for k, v in headers.items() if k.startswith("X-Truedy")}

    assert verify_webhook(body, headers, secret) == {"event": "call.ended", "id": "evt_1"}
    assert verify_webhook(body, standard, secret)["id"] == "evt_1"
    assert verify_webhook(body.decode(), truedy, secret)["id"] == "evt_1"
    with pytest.raises(WebhookVerificationFailed, match="does not match"):
        verify_webhook(body + b" ", headers, secret)
    with pytest.raises(WebhookVerificationFailed, match="does not match"):
        verify_webhook(body, headers, new_secret())
    with pytest.raises(WebhookVerificationFailed, match="too old"):
        verify_webhook(body, headers, secret, now=now + 3600)
    with pytest.raises(WebhookVerificationFailed, match="no Voxline signature"):
        verify_webhook(body, {}, secret)
