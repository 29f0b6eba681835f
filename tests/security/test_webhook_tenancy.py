"""A webhook only ever reaches calls of the organization whose provider account signed it.

Two organizations on one deployment, each with its own provider account. Provider call ids
(Twilio's CallSid, Plivo's CallUUID, Telnyx's call_control_id) are not secret: organization
B can put A's into a request it signs with its own account. Such a request must neither
reveal A's call nor change it.
"""

from __future__ import annotations

import secrets
import uuid
import xml.etree.ElementTree as ET

import httpx

from tests.conftest import API
from tests.factories import Tenant
from tests.security.webhook_peers import (
    Line,
    call_status,
    import_line,
    post_plivo,
    post_twilio,
    ringing_call,
)
from voxline.config import Settings
from voxline.storage.db import Database

A_NUMBER, B_NUMBER = "+14155550001", "+14155550002"
CALLER = "+14155559876"


def _stream_call_id(twiml: str) -> str | None:
    parameter = ET.fromstring(twiml).find(".//Stream/Parameter[@name='call_id']")
    return None if parameter is None else parameter.get("value")


def _plivo_call_id(xml: str) -> str | None:
    stream = ET.fromstring(xml).find(".//Stream")
    if stream is None:
        return None
    return next(
        (h.split("=", 1)[1] for h in (stream.get("extraHeaders") or "").split(",") if "=" in h),
        None,
    )


async def _lines(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other: Tenant, provider: str
) -> tuple[Line, Line]:
    a = await import_line(client, db, tenant, provider, A_NUMBER, secrets.token_hex(16))
    b = await import_line(client, db, other, provider, B_NUMBER, secrets.token_hex(16))
    return a, b


async def _inbound_ids(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    listed = await client.get(f"{API}/calls?direction=inbound", headers=tenant.headers)
    return [call["id"] for call in listed.json()["data"]]


def _twilio_inbound(sid: str, to: str) -> list[tuple[str, str]]:
    return [
        ("AccountSid", "AC" + "0123456789abcdef" * 2),
        ("CallSid", sid),
        ("From", CALLER),
        ("To", to),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]


async def test_twilio_answer_signed_by_another_account_does_not_reveal_the_call(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    a, b = await _lines(client, db, tenant, other_tenant, "twilio")
    sid = "CA" + uuid.uuid4().hex
    a_call = await ringing_call(db, a, "twilio", sid)

    response = await post_twilio(
        client,
        settings.base_url,
        "/webhooks/twilio/answer",
        _twilio_inbound(sid, B_NUMBER),
        b.secret,
    )

    assert response.status_code == 200, response.text
    b_call = _stream_call_id(response.text)
    assert b_call is not None and b_call != a_call
    assert a_call not in response.text
    assert await _inbound_ids(client, other_tenant) == [b_call]
    assert await call_status(client, tenant, a_call) == "ringing"


async def test_twilio_answer_retried_by_the_owning_account_finds_its_call(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    a, _ = await _lines(client, db, tenant, other_tenant, "twilio")
    params = _twilio_inbound("CA" + uuid.uuid4().hex, A_NUMBER)
    first = await post_twilio(
        client, settings.base_url, "/webhooks/twilio/answer", params, a.secret
    )
    again = await post_twilio(
        client, settings.base_url, "/webhooks/twilio/answer", params, a.secret
    )

    assert first.status_code == again.status_code == 200
    call_id = _stream_call_id(first.text)
    assert call_id is not None and _stream_call_id(again.text) == call_id
    assert await _inbound_ids(client, tenant) == [call_id]


async def test_twilio_status_callback_reaches_only_the_signing_accounts_call(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    a, b = await _lines(client, db, tenant, other_tenant, "twilio")
    sid = "CA" + uuid.uuid4().hex
    a_call = await ringing_call(db, a, "twilio", sid)
    status = [("CallSid", sid), ("CallStatus", "busy"), ("SequenceNumber", "2")]

    # B has no call with A's CallSid yet: refused, exactly as an unknown call.
    forged = await post_twilio(
        client, settings.base_url, "/webhooks/twilio/events", status, b.secret
    )
    assert forged.status_code == 403
    # B records an inbound call claiming A's CallSid; its callbacks then reach B's call only.
    answer = _twilio_inbound(sid, B_NUMBER)
    answered = await post_twilio(
        client, settings.base_url, "/webhooks/twilio/answer", answer, b.secret
    )
    b_call = _stream_call_id(answered.text)
    assert b_call is not None
    applied = await post_twilio(
        client, settings.base_url, "/webhooks/twilio/events", status, b.secret
    )
    assert applied.status_code == 204
    assert await call_status(client, other_tenant, b_call) == "busy"
    assert await call_status(client, tenant, a_call) == "ringing"
    # A's own account still reaches A's call.
    mine = await post_twilio(client, settings.base_url, "/webhooks/twilio/events", status, a.secret)
    assert mine.status_code == 204
    assert await call_status(client, tenant, a_call) == "busy"


async def test_twilio_callback_for_a_call_id_of_another_organization_is_refused(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    a, b = await _lines(client, db, tenant, other_tenant, "twilio")
    sid = "CA" + uuid.uuid4().hex
    a_call = await ringing_call(db, a, "twilio", sid)
    path = f"/webhooks/twilio/events?call_id={a_call}"
    status = [("CallSid", sid), ("CallStatus", "busy")]

    forged = await post_twilio(client, settings.base_url, path, status, b.secret)
    assert forged.status_code == 403
    assert await call_status(client, tenant, a_call) == "ringing"
    genuine = await post_twilio(client, settings.base_url, path, status, a.secret)
    assert genuine.status_code == 204
    assert await call_status(client, tenant, a_call) == "busy"


def _plivo_inbound(uuid_: str, to: str) -> dict[str, str]:
    return {
        "CallUUID": uuid_,
        "From": CALLER.removeprefix("+"),
        "To": to.removeprefix("+"),
        "Direction": "inbound",
        "CallStatus": "ringing",
    }


async def test_plivo_answer_signed_by_another_account_does_not_reveal_the_call(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    a, b = await _lines(client, db, tenant, other_tenant, "plivo")
    call_uuid = str(uuid.uuid4())
    a_call = await ringing_call(db, a, "plivo", call_uuid)

    response = await post_plivo(
        client,
        settings.base_url,
        "/webhooks/plivo/answer",
        _plivo_inbound(call_uuid, B_NUMBER),
        b.secret,
    )

    assert response.status_code == 200, response.text
    assert a_call not in response.text
    b_calls = await _inbound_ids(client, other_tenant)
    assert len(b_calls) == 1 and b_calls[0] in response.text
    assert await call_status(client, tenant, a_call) == "ringing"
    # A's own retry of the same CallUUID still finds A's call.
    mine = await post_plivo(
        client,
        settings.base_url,
        "/webhooks/plivo/answer",
        _plivo_inbound(call_uuid, A_NUMBER),
        a.secret,
    )
    assert mine.status_code == 200 and a_call in mine.text


async def test_plivo_hangup_signed_by_another_account_leaves_the_call_alone(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    a, b = await _lines(client, db, tenant, other_tenant, "plivo")
    call_uuid = str(uuid.uuid4())
    a_call = await ringing_call(db, a, "plivo", call_uuid)
    hangup = {
        "CallUUID": call_uuid,
        "Event": "Hangup",
        "CallStatus": "busy",
        "HangupCause": "USER_BUSY",
    }

    forged = await post_plivo(client, settings.base_url, "/webhooks/plivo/events", hangup, b.secret)
    assert forged.status_code == 403
    assert await call_status(client, tenant, a_call) == "ringing"
    genuine = await post_plivo(
        client, settings.base_url, "/webhooks/plivo/events", hangup, a.secret
    )
    assert genuine.status_code == 204
    assert await call_status(client, tenant, a_call) == "busy"
