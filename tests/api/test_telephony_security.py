"""Telephony secrets stay sealed, and one organization never reaches another's numbers."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import API
from tests.factories import Tenant, insert_agent
from voxline.config import Settings
from voxline.logging import JsonFormatter
from voxline.services import credentials
from voxline.storage.db import Database
from voxline.storage.tables import phone_numbers, telephony_credentials
from voxline.telephony.credentials import PlivoCredentials, TelnyxCredentials, TwilioCredentials

NUMBERS = f"{API}/telephony/numbers"
SID = "AC" + "0123456789abcdef" * 2
PLIVO_ID = "SA" + "Z9Y8X7W6V5U4T3S2R1"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs() -> Iterator[Capture]:
    logger = logging.getLogger("voxline")
    capture, level = Capture(), logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    yield capture
    logger.removeHandler(capture)
    logger.setLevel(level)


async def import_all_providers(
    client: httpx.AsyncClient, tenant: Tenant
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Import one number per provider with fresh random secrets; return secrets and numbers."""
    secret = {
        "twilio": secrets.token_hex(16),
        "telnyx": "KEY" + secrets.token_urlsafe(24),
        "plivo": secrets.token_urlsafe(30),
    }
    bodies = [
        {"provider_type": "twilio", "account_sid": SID, "auth_token": secret["twilio"]},
        {"provider_type": "telnyx", "api_key": secret["telnyx"], "connection_id": "77"},
        {"provider_type": "plivo", "auth_id": PLIVO_ID, "auth_token": secret["plivo"]},
    ]
    numbers = []
    for line, body in enumerate(bodies):
        response = await client.post(
            f"{NUMBERS}/import",
            json={"phone_number": f"+1500555000{line}", **body},
            headers=tenant.headers,
        )
        assert response.status_code == 201, response.text
        numbers.append(response.json()["data"])
    return secret, numbers


async def every_read(client: httpx.AsyncClient, tenant: Tenant, agent_id: str) -> list[str]:
    paths = [NUMBERS, f"{API}/telephony/credentials", f"{API}/telephony/agents/{agent_id}/numbers"]
    return [(await client.get(path, headers=tenant.headers)).text for path in paths]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_secrets_never_reach_the_sqlite_file_responses_or_logs(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant, logs: Capture
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    secret, numbers = await import_all_providers(client, tenant)
    for number in numbers:
        body = {"number_id": number["id"], "agent_id": agent, "assignment_type": "outbound"}
        assigned = await client.post(f"{NUMBERS}/assign", json=body, headers=tenant.headers)
        assert assigned.status_code == 200
    texts = [*(str(n) for n in numbers), *await every_read(client, tenant, agent)]
    path = Path(str(make_url(settings.resolved_database_url).database))
    stored = b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )
    # The reading sees the committed data: the non-secret account id is there in clear.
    assert SID.encode() in stored
    assert PLIVO_ID.encode() in stored
    for value in secret.values():
        assert value.encode() not in stored
        assert all(value not in text for text in texts)
        assert all(value not in line for line in logs.lines)
    assert any("phone number added" in line for line in logs.lines)


async def test_secrets_are_stored_only_sealed_and_open_for_the_adapters(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    secret, numbers = await import_all_providers(client, tenant)
    async with db.read() as conn:
        rows = [
            str(tuple(row))
            for table in (telephony_credentials, phone_numbers)
            for row in await conn.execute(sa.select(table))
        ]
    for value in secret.values():
        assert all(value not in row for row in rows)
    opened = [
        (await credentials.credential_for_number(db, settings, n["id"])).credentials
        for n in numbers
    ]
    assert opened == [
        TwilioCredentials(SID, secret["twilio"]),
        TelnyxCredentials(secret["telnyx"], None, "77"),
        PlivoCredentials(PLIVO_ID, secret["plivo"]),
    ]


async def test_another_organization_cannot_see_or_touch_the_numbers(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    intruder_agent = await insert_agent(db, other_tenant.org_id)
    _, numbers = await import_all_providers(client, tenant)
    number = numbers[0]
    assign = {"number_id": number["id"], "agent_id": agent, "assignment_type": "inbound"}
    assert (await client.post(f"{NUMBERS}/assign", json=assign, headers=tenant.headers)).is_success
    intruder_own = (
        await client.post(
            f"{NUMBERS}/purchase",
            json={"phone_number": "+14155551000"},
            headers=other_tenant.headers,
        )
    ).json()["data"]

    attempts = [
        ("POST", f"{NUMBERS}/assign", {**assign, "agent_id": intruder_agent}),
        ("POST", f"{NUMBERS}/assign", {**assign, "number_id": intruder_own["id"]}),
        ("POST", f"{NUMBERS}/unassign", {"number_id": number["id"], "assignment_type": "inbound"}),
        ("DELETE", f"{NUMBERS}/{number['id']}", None),
        ("GET", f"{API}/telephony/agents/{agent}/numbers", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=other_tenant.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"

    listed = await client.get(NUMBERS, headers=other_tenant.headers)
    assert [n["id"] for n in listed.json()["data"]] == [intruder_own["id"]]
    creds = await client.get(f"{API}/telephony/credentials", headers=other_tenant.headers)
    assert creds.json()["data"] == []
    assert creds.json()["pagination"]["total"] == 0
    mine = (await client.get(NUMBERS, headers=tenant.headers)).json()["data"]
    assert len(mine) == 3
    untouched = next(n for n in mine if n["id"] == number["id"])
    assert untouched == {**number, "inbound_agent_id": agent, "updated_at": untouched["updated_at"]}
    assert intruder_own["inbound_agent_id"] is None
