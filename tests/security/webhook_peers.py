"""Provider peers for the hostile-webhook tests: organizations with numbers of each provider,
and requests signed the way each provider signs them (with any account's secret)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx

from tests.conftest import API
from tests.emulators import plivo as plivo_emulator
from tests.emulators.telnyx import TelnyxEmulator
from tests.emulators.twilio import twilio_signature
from tests.factories import Tenant, insert_agent, insert_call
from voxline.storage.db import Database
from voxline.telephony.telnyx.webhooks import encode_client_state

FORM = "application/x-www-form-urlencoded"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
PLIVO_ID = "MA" + "ABCDEFGHIJ01234567"


@dataclass
class Line:
    """One organization's imported number, with the secret its provider signs with."""

    tenant: Tenant
    number: str
    number_id: str
    agent_id: str
    secret: str
    telnyx: TelnyxEmulator | None = None


async def import_line(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, provider: str, number: str, secret: str
) -> Line:
    """Import ``number`` at ``provider`` for ``tenant`` and give it an inbound agent."""
    telnyx = None
    if provider == "twilio":
        body = {"account_sid": TWILIO_SID, "auth_token": secret}
    elif provider == "plivo":
        body = {"auth_id": PLIVO_ID, "auth_token": secret}
    else:
        telnyx = TelnyxEmulator()
        body = {"api_key": "KEY" + secret, "public_key": telnyx.public_key, "connection_id": "7"}
    imported = await client.post(
        f"{API}/telephony/numbers/import",
        json={"phone_number": number, "provider_type": provider, **body},
        headers=tenant.headers,
    )
    assert imported.status_code == 201, imported.text
    number_id = imported.json()["data"]["id"]
    agent_id = await insert_agent(db, tenant.org_id)
    assigned = await client.post(
        f"{API}/telephony/numbers/assign",
        json={"number_id": number_id, "agent_id": agent_id, "assignment_type": "inbound"},
        headers=tenant.headers,
    )
    assert assigned.status_code == 200, assigned.text
    return Line(tenant, number, number_id, agent_id, secret, telnyx)


async def post_twilio(
    client: httpx.AsyncClient,
    base_url: str,
    path: str,
    params: list[tuple[str, str]],
    token: str | None,
) -> httpx.Response:
    """POST a Twilio webhook to ``path`` (query included) signed with ``token`` (None:
    unsigned)."""
    url = f"{base_url}{path}"
    headers = {"Content-Type": FORM}
    if token is not None:
        headers["X-Twilio-Signature"] = twilio_signature(token, url, params)
    return await client.post(path, content=urlencode(params), headers=headers)


async def post_plivo(
    client: httpx.AsyncClient,
    base_url: str,
    path: str,
    params: dict[str, str],
    token: str | None,
) -> httpx.Response:
    """POST a Plivo callback to ``path`` signed (V3) with ``token`` (None: unsigned)."""
    url = f"{base_url}{path}"
    headers = {"Content-Type": FORM}
    if token is not None:
        nonce = "12345678901234567890"
        headers["X-Plivo-Signature-V3"] = plivo_emulator.sign(token, url, params, nonce)
        headers["X-Plivo-Signature-V3-Nonce"] = nonce
    return await client.post(path, content=urlencode(params), headers=headers)


def telnyx_event(
    line: Line,
    event_type: str,
    call_control_id: str,
    call_id: str | None,
    *,
    event_id: str | None = None,
    **payload: object,
) -> tuple[bytes, dict[str, str]]:
    """A Telnyx call event (``client_state`` carrying ``call_id``, if any) signed now by the
    account of ``line``: its body and headers."""
    assert line.telnyx is not None
    document = {
        "data": {
            "record_type": "event",
            "event_type": event_type,
            "id": event_id or str(uuid.uuid4()),
            "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "payload": {
                "call_control_id": call_control_id,
                "client_state": encode_client_state(call_id) if call_id else None,
                "connection_id": "7",
                **payload,
            },
        },
        "meta": {"attempt": 1},
    }
    body = json.dumps(document).encode()
    return body, line.telnyx.sign(body, int(time.time()))


async def ringing_call(db: Database, line: Line, provider: str, provider_call_id: str) -> str:
    """A ringing outbound call from ``line``'s number, known to its provider by
    ``provider_call_id``."""
    return await insert_call(
        db,
        line.tenant.org_id,
        line.agent_id,
        status="ringing",
        provider_type=provider,
        provider_call_id=provider_call_id,
        phone_number_id=line.number_id,
        from_number=line.number,
    )


async def call_status(client: httpx.AsyncClient, tenant: Tenant, call_id: str) -> str:
    response = await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["status"])
