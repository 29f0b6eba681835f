"""Anything at all posted to the provider-facing endpoints, unsigned: never a 5xx, nothing
written, and the API's lists still answer afterwards (a property-based test)."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import API
from tests.factories import Tenant, insert_call
from tests.security.webhook_peers import FORM, import_line
from voxline.storage.db import Database
from voxline.storage.tables import calls, webhook_receipts

NUMBER = "+14155550041"
KNOWN_CALL = str(uuid.uuid4())
FIELDS = ["CallSid", "CallUUID", "To", "From", "Direction", "CallStatus", "Event", "AnsweredBy"]
VALUES = [NUMBER, NUMBER[1:], KNOWN_CALL, "pc-known", "inbound", "completed", "Hangup", "\x00"]

texts = st.text(max_size=40)
keys = st.sampled_from(FIELDS) | texts
values = st.sampled_from(VALUES) | texts
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | values,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(keys | st.just("data"), inner, max_size=4)
    ),
    max_leaves=30,
)
telnyx_events = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {
                "event_type": st.sampled_from(["call.initiated", "call.answered", "call.hangup"])
                | texts,
                "id": texts,
                "payload": st.dictionaries(
                    st.sampled_from(["call_control_id", "client_state", "to", "from", "direction"]),
                    values | json_values,
                    max_size=5,
                ),
            }
        )
    }
)
form_bodies = st.lists(st.tuples(keys, values), max_size=8).map(lambda p: urlencode(p).encode())
bodies = st.one_of(
    form_bodies,
    telnyx_events.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=300),
)
paths = st.sampled_from(
    [
        "/webhooks/twilio/events",
        "/webhooks/twilio/answer",
        "/webhooks/plivo/events",
        "/webhooks/plivo/answer",
        "/webhooks/telnyx/events",
    ]
)
queries = st.sampled_from(["", f"?call_id={KNOWN_CALL}", f"?call_id={uuid.uuid4()}"]) | texts.map(
    lambda q: f"?call_id={quote(q)}"
)
content_types = st.sampled_from([FORM, "application/json", "text/plain; charset=latin-1", ""])
signature_headers = st.dictionaries(
    st.sampled_from(
        [
            "X-Twilio-Signature",
            "X-Plivo-Signature-V3",
            "X-Plivo-Signature-V3-Nonce",
            "telnyx-signature-ed25519",
            "telnyx-timestamp",
        ]
    ),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60),
    max_size=3,
)


@pytest.fixture
async def known(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> int:
    """A Twilio number and one of its calls, so lookups find something; the calls stored."""
    line = await import_line(client, db, tenant, "twilio", NUMBER, uuid.uuid4().hex)
    await insert_call(
        db,
        tenant.org_id,
        line.agent_id,
        status="ringing",
        provider_type="twilio",
        provider_call_id="pc-known",
        phone_number_id=line.number_id,
        id=KNOWN_CALL,
    )
    return 1


async def _rows(db: Database) -> tuple[int, int]:
    async with db.read() as conn:
        counted = [
            (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            for table in (calls, webhook_receipts)
        ]
    return int(counted[0]), int(counted[1])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=paths,
    query=queries,
    body=bodies,
    content_type=content_types,
    headers=signature_headers,
)
async def test_unsigned_webhooks_of_any_shape_are_refused_cleanly(
    client: httpx.AsyncClient,
    db: Database,
    tenant: Tenant,
    known: int,
    path: str,
    query: str,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
) -> None:
    sent: dict[str, Any] = {**headers, "content-type": content_type}
    response = await client.post(f"{path}{query}", content=body, headers=sent)

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"]["code"] in ("bad_request", "forbidden", "validation_error")
    assert await _rows(db) == (known, 0)
    listed = await client.get(f"{API}/calls", headers=tenant.headers)
    assert listed.status_code == 200


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    call_id=st.sampled_from([KNOWN_CALL, str(uuid.uuid4())]) | texts,
    expires=st.sampled_from(["9999999999", "1", "-1", "9" * 5000, ""]) | texts,
    signature=st.binary(max_size=60),
)
async def test_recording_links_of_any_shape_are_refused_cleanly(
    client: httpx.AsyncClient, call_id: str, expires: str, signature: bytes
) -> None:
    query = f"expires={quote(expires)}&signature={quote(signature)}"
    response = await client.get(f"/recordings/{quote(call_id, safe='')}.wav?{query}")
    assert response.status_code in (403, 404), response.text
