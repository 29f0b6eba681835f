"""POST /calls: validation, effective settings, caller id, credits, and the engine wake-up."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant, app_for, insert_agent, insert_number
from voxline.config import Settings
from voxline.errors import ProviderError
from voxline.services import billing
from voxline.storage.db import Database
from voxline.storage.tables import calls

FROM = "+14155550199"
TO = "+14155550123"


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    agent = await insert_agent(db, tenant.org_id, greeting="Hi {{first_name}}")
    await insert_number(db, tenant.org_id, FROM, outbound_agent_id=agent)
    return agent


async def post_call(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]
) -> httpx.Response:
    return await client.post(f"{API}/calls", json=body, headers=tenant.headers)


async def call_rows(db: Database) -> list[Any]:
    async with db.read() as conn:
        return list((await conn.execute(sa.select(calls))).all())


async def test_create_queues_an_outbound_call_with_the_agents_defaults(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    response = await post_call(client, tenant, {"agent_id": agent_id, "phone_number": TO})

    assert response.status_code == 201, response.text
    call = response.json()["data"]
    assert call["agent_id"] == agent_id
    assert call["status"] == "queued"
    assert call["direction"] == "outbound"
    assert call["phone_number"] == TO
    assert call["from_number"] == FROM
    assert call["variables"] == {}
    assert call["context"] == {}
    assert call["cost_usd"] is None
    assert call["recording_url"] is None
    assert call["started_at"] is None
    assert call["call_settings"] == {
        "recording_enabled": True,
        "transcription_enabled": True,
        "greeting": "Hi {{first_name}}",
        "max_duration": "3600s",
        "join_timeout": "30s",
    }
    [row] = await call_rows(db)
    assert row.id == call["id"]
    assert row.organization_id == tenant.org_id
    assert row.provider_type == "sandbox"
    assert row.phone_number_id is not None
    assert row.not_before == row.created_at
    assert row.settings["max_duration_seconds"] == 3600.0


async def test_call_settings_override_the_agent_for_this_call(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    overrides = {
        "recording_enabled": False,
        "transcription_enabled": False,
        "greeting": "Good morning",
        "max_duration": "10m",
        "join_timeout": "45s",
    }
    response = await post_call(
        client, tenant, {"agent_id": agent_id, "phone_number": TO, "call_settings": overrides}
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["call_settings"] == {**overrides, "max_duration": "600s"}
    [row] = await call_rows(db)
    assert row.settings == {
        "recording_enabled": False,
        "transcription_enabled": False,
        "greeting": "Good morning",
        "max_duration_seconds": 600.0,
        "join_timeout_seconds": 45.0,
        "leave_voicemail": False,
    }


async def test_recording_default_follows_the_agent(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id, recording_enabled=False, greeting=None)
    await insert_number(db, tenant.org_id, FROM, outbound_agent_id=agent)

    response = await post_call(client, tenant, {"agent_id": agent, "phone_number": TO})

    settings = response.json()["data"]["call_settings"]
    assert settings["recording_enabled"] is False
    assert settings["greeting"] is None


async def test_variables_are_stored_as_strings(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    variables = {"first_name": "Jane", "n": 42, "ratio": 1.5, "vip": True, "note": None}

    response = await post_call(
        client, tenant, {"agent_id": agent_id, "phone_number": TO, "variables": variables}
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["variables"] == {
        "first_name": "Jane",
        "n": "42",
        "ratio": "1.5",
        "vip": "true",
        "note": "",
    }


@pytest.mark.parametrize("value", [{"nested": "x"}, ["a", "b"]])
async def test_nested_variable_values_are_rejected(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, value: object
) -> None:
    response = await post_call(
        client, tenant, {"agent_id": agent_id, "phone_number": TO, "variables": {"k": value}}
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "variables.k"
    assert await call_rows(db) == []


async def test_context_is_accepted_as_the_older_name_of_variables(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    response = await post_call(
        client, tenant, {"agent_id": agent_id, "phone_number": TO, "context": {"n": 7}}
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["variables"] == {"n": "7"}
    assert response.json()["data"]["context"] == {}


async def test_variables_and_context_together_are_rejected(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO, "variables": {}, "context": {}}

    response = await post_call(client, tenant, body)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "context"


async def test_unknown_agent_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    missing = "0b0f6f4e-2c51-4c55-9d5e-3b8b0f1e8a11"

    response = await post_call(client, tenant, {"agent_id": missing, "phone_number": TO})

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["details"]["agent_id"] == missing
    assert await call_rows(db) == []


async def test_another_organizations_agent_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    foreign = await insert_agent(db, other_tenant.org_id)
    await insert_number(db, other_tenant.org_id, FROM, outbound_agent_id=foreign)

    response = await post_call(client, tenant, {"agent_id": foreign, "phone_number": TO})

    assert response.status_code == 404


async def test_inactive_agent_is_rejected(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id, status="draft")
    await insert_number(db, tenant.org_id, FROM, outbound_agent_id=agent)

    response = await post_call(client, tenant, {"agent_id": agent, "phone_number": TO})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["reason"] == "agent_not_active"


@pytest.mark.parametrize("agent", ["not-a-uuid", 12, None])
async def test_malformed_agent_id_is_a_validation_error(
    client: httpx.AsyncClient, tenant: Tenant, agent: object
) -> None:
    response = await post_call(client, tenant, {"agent_id": agent, "phone_number": TO})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "agent_id"


@pytest.mark.parametrize(
    "number", ["4155550123", "+0155550123", "+1", "+1415555012345678", "+1\u0664\u0661\u0665"]
)
async def test_phone_number_must_be_e164(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, number: str
) -> None:
    response = await post_call(client, tenant, {"agent_id": agent_id, "phone_number": number})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "phone_number"
    assert await call_rows(db) == []


async def test_from_number_assigned_to_the_agent_is_used(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    await insert_number(db, tenant.org_id, "+14155550188", outbound_agent_id=agent_id)

    response = await post_call(
        client,
        tenant,
        {"agent_id": agent_id, "phone_number": TO, "from_number": "+14155550188"},
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["from_number"] == "+14155550188"


async def test_from_number_not_assigned_to_the_agent_for_outbound_is_rejected(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, other_tenant: Tenant
) -> None:
    other_agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155550181", outbound_agent_id=other_agent)
    await insert_number(db, tenant.org_id, "+14155550182", inbound_agent_id=agent_id)
    foreign_agent = await insert_agent(db, other_tenant.org_id)
    await insert_number(db, other_tenant.org_id, "+14155550183", outbound_agent_id=foreign_agent)

    for number in ("+14155550181", "+14155550182", "+14155550183", "+14155550184"):
        response = await post_call(
            client, tenant, {"agent_id": agent_id, "phone_number": TO, "from_number": number}
        )
        assert response.status_code == 422, number
        assert response.json()["error"]["details"]["field"] == "from_number"
    assert await call_rows(db) == []


async def test_the_agents_oldest_outbound_number_is_chosen(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    oldest = await insert_number(db, tenant.org_id, "+14155550171", outbound_agent_id=agent)
    await insert_number(db, tenant.org_id, "+14155550172", outbound_agent_id=agent)

    for _ in range(3):
        response = await post_call(client, tenant, {"agent_id": agent, "phone_number": TO})
        assert response.json()["data"]["from_number"] == "+14155550171"
    assert {row.phone_number_id for row in await call_rows(db)} == {oldest}


async def test_agent_without_outbound_number_is_rejected(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, FROM, inbound_agent_id=agent)

    response = await post_call(client, tenant, {"agent_id": agent, "phone_number": TO})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["reason"] == "no_phone_number_configured"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_duration", "soon"),
        ("max_duration", "5s"),
        ("max_duration", "5h"),
        ("max_duration", 600),
        ("join_timeout", "0s"),
        ("join_timeout", "301s"),
        ("join_timeout", "30"),
    ],
)
async def test_bad_durations_name_their_field(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, name: str, value: object
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO, "call_settings": {name: value}}

    response = await post_call(client, tenant, body)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == f"call_settings.{name}"
    assert await call_rows(db) == []


@pytest.mark.parametrize(
    ("call_settings", "field"),
    [
        ({"voice": "x"}, "call_settings.voice"),
        ({"recording_enabled": "yes"}, "call_settings.recording_enabled"),
        ({"greeting": 5}, "call_settings.greeting"),
    ],
)
async def test_invalid_call_settings_are_rejected(
    client: httpx.AsyncClient, tenant: Tenant, agent_id: str, call_settings: object, field: str
) -> None:
    body = {"agent_id": agent_id, "phone_number": TO, "call_settings": call_settings}

    response = await post_call(client, tenant, body)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == field


async def test_insufficient_credits_is_payment_required_and_creates_nothing(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str, settings: Settings
) -> None:
    await billing.set_balance(db, tenant.org_id, Decimal("0.01"))

    response = await post_call(client, tenant, {"agent_id": agent_id, "phone_number": TO})

    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "payment_required"
    assert error["details"]["reason"] == "insufficient_credits"
    assert error["details"]["balance"] == 0.01
    assert error["details"]["required"] == float(settings.minimum_call_credit())
    assert await call_rows(db) == []


async def test_the_engine_is_woken_once_per_created_call(
    db: Database, settings: Settings, tenant: Tenant, agent_id: str
) -> None:
    app = app_for(settings, db=db)
    woken: list[str] = []

    async def wake(call_id: str) -> None:
        woken.append(call_id)

    app.state.runtime.call_created = wake
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        headers = {**tenant.headers, "X-Idempotency-Key": "wake-1"}
        body = {"agent_id": agent_id, "phone_number": TO}
        first = await http.post(f"{API}/calls", json=body, headers=headers)
        again = await http.post(f"{API}/calls", json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert woken == [first.json()["data"]["id"]]


async def test_a_provider_refusal_during_the_request_is_a_provider_error(
    db: Database, settings: Settings, tenant: Tenant, agent_id: str
) -> None:
    app = app_for(settings, db=db)

    async def refuse(call_id: str) -> ProviderError:
        return ProviderError("number not reachable", provider="sandbox", retryable=False)

    app.state.runtime.call_created = refuse
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        response = await http.post(
            f"{API}/calls", json={"agent_id": agent_id, "phone_number": TO}, headers=tenant.headers
        )

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_error"
    assert error["details"]["provider"] == "sandbox"
    [row] = await call_rows(db)
    assert error["details"]["call_id"] == row.id
