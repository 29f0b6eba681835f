"""An unsigned or wrongly signed webhook gets one answer, whatever call or number it names:
nothing tells a prober which call ids or numbers exist."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.emulators.telnyx import TelnyxEmulator
from tests.factories import Tenant, insert_call
from tests.security.webhook_peers import Line, import_line, post_plivo, post_twilio, telnyx_event
from voxline.config import Settings
from voxline.storage.db import Database

NUMBER = "+14155550031"
REFUSED = {"code": "forbidden", "message": "Invalid webhook signature", "details": {}}


async def _line_and_call(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, provider: str
) -> tuple[Line, str, str]:
    line = await import_line(client, db, tenant, provider, NUMBER, uuid.uuid4().hex)
    provider_call_id = f"pc-{uuid.uuid4()}"
    call_id = await insert_call(
        db,
        tenant.org_id,
        line.agent_id,
        status="ringing",
        provider_type=provider,
        provider_call_id=provider_call_id,
        phone_number_id=line.number_id,
    )
    return line, call_id, provider_call_id


def _refused(response: httpx.Response) -> bool:
    body = response.json()
    return (
        response.status_code == 403 and body["error"] == REFUSED and set(body) == {"error", "meta"}
    )


@pytest.mark.parametrize("provider", ["twilio", "plivo"])
async def test_form_webhooks_answer_alike_for_known_and_unknown_calls(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant, provider: str
) -> None:
    line, call_id, provider_call_id = await _line_and_call(client, db, tenant, provider)
    field = "CallSid" if provider == "twilio" else "CallUUID"
    base, events = settings.base_url, f"/webhooks/{provider}/events"

    async def send(path: str, fields: dict[str, str], token: str | None) -> httpx.Response:
        if provider == "twilio":
            return await post_twilio(client, base, path, list(fields.items()), token)
        return await post_plivo(client, base, path, fields, token)

    known = {field: provider_call_id, "CallStatus": "busy", "Event": "Hangup"}
    unknown = {**known, field: f"pc-{uuid.uuid4()}"}
    answers = [
        await send(f"{events}?call_id={call_id}", known, None),
        await send(f"{events}?call_id={uuid.uuid4()}", known, None),
        await send(f"{events}?call_id=not-a-uuid", known, None),
        await send(events, known, None),
        await send(events, unknown, None),
        await send(f"{events}?call_id={call_id}", known, "wrong-token"),
        await send(f"{events}?call_id={uuid.uuid4()}", known, line.secret),
        await send(events, unknown, line.secret),
        await send(f"/webhooks/{provider}/answer", {"To": NUMBER, field: "x"}, None),
        await send(f"/webhooks/{provider}/answer", {"To": "+14155550000", field: "x"}, None),
        await send(f"/webhooks/{provider}/answer", {"To": "+14155550000", field: "x"}, line.secret),
    ]
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert all(_refused(a) for a in answers), [a.text for a in answers]
    # The same request, signed by the number's account, is applied.
    signed = await send(f"{events}?call_id={call_id}", known, line.secret)
    assert signed.status_code == 204


async def test_telnyx_webhooks_answer_alike_for_known_and_unknown_calls(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    line, call_id, control = await _line_and_call(client, db, tenant, "telnyx")
    impostor = Line(line.tenant, NUMBER, line.number_id, line.agent_id, "x", None)
    impostor.telnyx = TelnyxEmulator()  # another key pair
    cases = [
        telnyx_event(impostor, "call.answered", control, call_id),
        telnyx_event(impostor, "call.answered", control, str(uuid.uuid4())),
        telnyx_event(impostor, "call.answered", f"v3:{uuid.uuid4()}", None),
        telnyx_event(line, "call.answered", control, str(uuid.uuid4())),
        telnyx_event(line, "call.answered", f"v3:{uuid.uuid4()}", None),
    ]
    answers = []
    for body, headers in cases:
        answers.append(await client.post("/webhooks/telnyx/events", content=body, headers=headers))
        unsigned = {"content-type": "application/json"}
        answers.append(await client.post("/webhooks/telnyx/events", content=body, headers=unsigned))
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert all(_refused(a) for a in answers), [a.text for a in answers]
    body, headers = telnyx_event(line, "call.answered", control, call_id)
    signed = await client.post("/webhooks/telnyx/events", content=body, headers=headers)
    assert signed.status_code == 204
