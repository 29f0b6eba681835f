"""Whatever an unauthenticated caller sends to a webhook or a recording link, the answer is
a 4xx: no body is too deep, too large or too strange to be refused politely."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.security.webhook_peers import FORM
from voxline.config import Settings
from voxline.crypto import UrlSigner
from voxline.services.call_records import RecordingLinks

EVENT = {"data": {"event_type": "call.answered", "id": "e1", "payload": {"call_control_id": "c"}}}


@pytest.mark.parametrize("depth", [100_000, 5_000, 33])
async def test_a_deeply_nested_telnyx_body_is_refused(
    client: httpx.AsyncClient, depth: int
) -> None:
    body = b"[" * depth + b"]" * depth
    response = await client.post(
        "/webhooks/telnyx/events", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_a_telnyx_body_within_the_depth_limit_reaches_the_signature_check(
    client: httpx.AsyncClient,
) -> None:
    nested: object = "x"
    for _ in range(25):
        nested = [nested]
    event = {**EVENT, "meta": {"deep": nested}}
    response = await client.post("/webhooks/telnyx/events", content=json.dumps(event).encode())
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "content_type", "filler"),
    [
        ("/webhooks/telnyx/events", "application/json", b" "),
        ("/webhooks/twilio/events", FORM, b"a"),
        ("/webhooks/plivo/events", FORM, b"a"),
        ("/webhooks/twilio/answer", FORM, b"a"),
    ],
)
async def test_webhook_bodies_beyond_the_size_limit_are_refused(
    client: httpx.AsyncClient, settings: Settings, path: str, content_type: str, filler: bytes
) -> None:
    limit = settings.webhook_max_body_bytes
    prefix = json.dumps(EVENT).encode() if content_type != FORM else b"CallSid=CA1&x="

    small = await client.post(
        path, content=prefix + filler * 1000, headers={"content-type": content_type}
    )
    large = await client.post(
        path, content=prefix + filler * limit, headers={"content-type": content_type}
    )

    assert small.status_code == 403
    assert large.status_code == 400
    assert large.json()["error"]["message"] == "Webhook body is too large"


async def test_a_streamed_body_beyond_the_limit_is_refused_without_a_length(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    async def chunks() -> object:
        for _ in range(settings.webhook_max_body_bytes // 1000 + 2):
            yield b" " * 1000

    response = await client.post(
        "/webhooks/telnyx/events", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("signature", ["%C3%A9", "%FF%FE", "%E2%98%8E" * 40, "%00", "x"])
async def test_recording_links_with_any_signature_bytes_are_forbidden(
    client: httpx.AsyncClient, signature: str
) -> None:
    response = await client.get(
        f"/recordings/{uuid.uuid4()}.wav?expires=9999999999&signature={signature}"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_a_genuinely_signed_recording_link_passes_the_signature_check(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    call_id = str(uuid.uuid4())
    signer = UrlSigner(settings.resolved_secret_key())
    response = await client.get(signer.sign(RecordingLinks.path_for(call_id), 60))
    assert response.status_code == 404  # signed correctly; there is just no such recording
