"""A node that drains before it stops refuses new inbound calls the way each carrier retries
elsewhere (503, nothing recorded), and keeps applying the events of the calls it has."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from tests.factories import Tenant, app_for
from tests.security.webhook_peers import (
    TWILIO_SID,
    call_status,
    import_line,
    post_plivo,
    post_twilio,
    ringing_call,
    telnyx_event,
)
from voxline.config import Settings
from voxline.runtime import Runtime
from voxline.storage.db import Database
from voxline.storage.tables import calls

NUMBER = "+14155550041"
CALLER = "+14155559871"


@pytest.fixture
async def node(
    settings: Settings, db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    app = app_for(settings, db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield http, app.state.runtime


async def _inbound_calls(db: Database) -> int:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).where(calls.c.direction == "inbound")
        return int((await conn.execute(query)).scalar_one())


def _unavailable(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and response.json()["error"]["code"] == "unavailable"
        and response.headers.get("retry-after") == "1"
    )


@pytest.mark.parametrize("provider", ["twilio", "plivo"])
async def test_an_inbound_call_is_refused_with_a_503_only_while_draining(
    node: tuple[httpx.AsyncClient, Runtime],
    db: Database,
    settings: Settings,
    tenant: Tenant,
    provider: str,
) -> None:
    client, runtime = node
    secret = uuid.uuid4().hex
    await import_line(client, db, tenant, provider, NUMBER, secret)

    async def ring() -> httpx.Response:
        path = f"/webhooks/{provider}/answer"
        if provider == "twilio":
            fields = [
                ("CallSid", "CA" + uuid.uuid4().hex),
                ("AccountSid", TWILIO_SID),
                ("From", CALLER),
                ("To", NUMBER),
                ("Direction", "inbound"),
            ]
            return await post_twilio(client, settings.base_url, path, fields, secret)
        plivo = {"CallUUID": str(uuid.uuid4()), "From": CALLER, "To": NUMBER}
        return await post_plivo(
            client, settings.base_url, path, plivo | {"Direction": "inbound"}, secret
        )

    answered = await ring()
    assert answered.status_code == 200 and "Stream" in answered.text
    assert await _inbound_calls(db) == 1

    runtime.begin_draining()
    refused = await ring()
    assert _unavailable(refused), refused.text
    # Nothing recorded: the carrier's fallback (another node) answers the call.
    assert await _inbound_calls(db) == 1


async def test_telnyx_inbound_call_is_refused_while_its_calls_events_still_apply(
    node: tuple[httpx.AsyncClient, Runtime], db: Database, tenant: Tenant
) -> None:
    client, runtime = node
    line = await import_line(client, db, tenant, "telnyx", NUMBER, uuid.uuid4().hex)
    control = f"v3:{uuid.uuid4()}"
    call_id = await ringing_call(db, line, "telnyx", control)
    runtime.begin_draining()

    body, headers = telnyx_event(
        line,
        "call.initiated",
        f"v3:{uuid.uuid4()}",
        None,
        direction="incoming",
        state="parked",
        **{"from": CALLER, "to": NUMBER},
    )
    refused = await client.post("/webhooks/telnyx/events", content=body, headers=headers)
    assert _unavailable(refused), refused.text
    assert await _inbound_calls(db) == 0

    # A call this node already has goes on: its events apply while it drains.
    body, headers = telnyx_event(line, "call.answered", control, call_id)
    applied = await client.post("/webhooks/telnyx/events", content=body, headers=headers)
    assert applied.status_code == 204
    assert await call_status(client, tenant, call_id) == "in_progress"
