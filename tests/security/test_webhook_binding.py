"""A webhook is applied to the call its signed content names, never to one an unsigned part
of the request (a Telnyx URL's query string) points at."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from tests.emulators.plivo import sign
from tests.emulators.twilio import twilio_signature
from tests.factories import Tenant
from tests.security.webhook_peers import (
    call_status,
    import_line,
    post_plivo,
    post_twilio,
    ringing_call,
    telnyx_event,
)
from voxline.config import Settings
from voxline.storage.db import Database

NUMBER = "+14155550011"


async def test_a_telnyx_event_posted_under_another_call_id_changes_only_its_own_call(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    line = await import_line(client, db, tenant, "telnyx", NUMBER, secrets.token_hex(8))
    x_control, y_control = f"v3:{uuid.uuid4()}", f"v3:{uuid.uuid4()}"
    x = await ringing_call(db, line, "telnyx", x_control)
    y = await ringing_call(db, line, "telnyx", y_control)

    answered = telnyx_event(line, "call.answered", x_control, x)
    response = await client.post(
        f"/webhooks/telnyx/events?call_id={y}", content=answered[0], headers=answered[1]
    )
    assert response.status_code == 204
    assert (await call_status(client, tenant, x), await call_status(client, tenant, y)) == (
        "in_progress",
        "ringing",
    )
    hangup = telnyx_event(
        line, "call.hangup", x_control, x, hangup_cause="normal_clearing", hangup_source="callee"
    )
    response = await client.post(
        f"/webhooks/telnyx/events?call_id={y}", content=hangup[0], headers=hangup[1]
    )
    assert response.status_code == 204
    assert (await call_status(client, tenant, x), await call_status(client, tenant, y)) == (
        "completed",
        "ringing",
    )


async def test_a_telnyx_event_whose_ids_disagree_is_refused(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    line = await import_line(client, db, tenant, "telnyx", NUMBER, secrets.token_hex(8))
    x_control, y_control = f"v3:{uuid.uuid4()}", f"v3:{uuid.uuid4()}"
    x = await ringing_call(db, line, "telnyx", x_control)
    y = await ringing_call(db, line, "telnyx", y_control)

    # client_state names Y, call_control_id is X's: not an event of either.
    body, headers = telnyx_event(line, "call.answered", x_control, y)
    refused = await client.post("/webhooks/telnyx/events", content=body, headers=headers)
    assert refused.status_code == 403
    # Without client_state the call_control_id alone finds the call.
    body, headers = telnyx_event(line, "call.answered", y_control, None)
    applied = await client.post("/webhooks/telnyx/events", content=body, headers=headers)
    assert applied.status_code == 204
    assert (await call_status(client, tenant, x), await call_status(client, tenant, y)) == (
        "ringing",
        "in_progress",
    )


async def test_a_signed_twilio_callback_cannot_be_moved_to_another_call_id(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    line = await import_line(client, db, tenant, "twilio", NUMBER, secrets.token_hex(16))
    x_sid, y_sid = "CA" + uuid.uuid4().hex, "CA" + uuid.uuid4().hex
    x = await ringing_call(db, line, "twilio", x_sid)
    y = await ringing_call(db, line, "twilio", y_sid)
    params = [("CallSid", x_sid), ("CallStatus", "busy")]
    url = f"{settings.base_url}/webhooks/twilio/events?call_id={x}"
    signature = twilio_signature(line.secret, url, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    body = f"CallSid={x_sid}&CallStatus=busy"

    moved = await client.post(f"/webhooks/twilio/events?call_id={y}", content=body, headers=headers)
    assert moved.status_code == 403
    assert await call_status(client, tenant, y) == "ringing"
    # Signed for Y's id but carrying X's CallSid: the ids disagree, refused too.
    crossed = await post_twilio(
        client, settings.base_url, f"/webhooks/twilio/events?call_id={y}", params, line.secret
    )
    assert crossed.status_code == 403
    assert await call_status(client, tenant, y) == "ringing"
    kept = await client.post(f"/webhooks/twilio/events?call_id={x}", content=body, headers=headers)
    assert kept.status_code == 204
    assert await call_status(client, tenant, x) == "busy"


async def test_a_signed_plivo_callback_cannot_be_moved_to_another_call_id(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    line = await import_line(client, db, tenant, "plivo", NUMBER, secrets.token_hex(16))
    x_uuid, y_uuid = str(uuid.uuid4()), str(uuid.uuid4())
    x = await ringing_call(db, line, "plivo", x_uuid)
    y = await ringing_call(db, line, "plivo", y_uuid)
    hangup = {"CallUUID": x_uuid, "Event": "Hangup", "CallStatus": "busy"}
    nonce = "98765432109876543210"
    url = f"{settings.base_url}/webhooks/plivo/events?call_id={x}"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Plivo-Signature-V3": sign(line.secret, url, hangup, nonce),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }
    moved = await client.post(
        f"/webhooks/plivo/events?call_id={y}", content=urlencode(hangup), headers=headers
    )
    assert moved.status_code == 403
    crossed = await post_plivo(
        client, settings.base_url, f"/webhooks/plivo/events?call_id={y}", hangup, line.secret
    )
    assert crossed.status_code == 403
    assert await call_status(client, tenant, y) == "ringing"
    kept = await client.post(
        f"/webhooks/plivo/events?call_id={x}", content=urlencode(hangup), headers=headers
    )
    assert kept.status_code == 204
    assert await call_status(client, tenant, x) == "busy"


async def test_a_json_twilio_callback_signed_through_its_body_hash_is_applied(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    line = await import_line(client, db, tenant, "twilio", NUMBER, secrets.token_hex(16))
    sid = "CA" + uuid.uuid4().hex
    call_id = await ringing_call(db, line, "twilio", sid)
    body = json.dumps({"CallSid": sid, "CallStatus": "busy"}).encode()
    query = f"call_id={call_id}&bodySHA256={hashlib.sha256(body).hexdigest()}"
    path = f"/webhooks/twilio/events?{query}"
    # Signed by the vendor's own validator, as Twilio signs a JSON webhook: the URL alone.
    signature = RequestValidator(line.secret).compute_signature(f"{settings.base_url}{path}", {})
    headers = {"Content-Type": "application/json", "X-Twilio-Signature": signature}

    tampered = body.replace(b"busy", b"no-answer")
    refused = await client.post(path, content=tampered, headers=headers)
    assert refused.status_code == 403
    assert await call_status(client, tenant, call_id) == "ringing"
    applied = await client.post(path, content=body, headers=headers)
    assert applied.status_code == 204
    assert await call_status(client, tenant, call_id) == "busy"
