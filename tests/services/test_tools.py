"""The tools services: secrets sealed at rest, and what a call loads of an agent's tools."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import Tenant, insert_agent
from voxline.config import Settings
from voxline.crypto import SecretBox
from voxline.domain.tools import (
    AgentTools,
    Filler,
    KnownValue,
    ParameterLocation,
    StaticParameter,
    TransferDestination,
    TransferSettings,
    VoicemailSettings,
)
from voxline.errors import ValidationFailed
from voxline.services import agents, tools
from voxline.services.agent_tools import load_agent_tools
from voxline.services.agents import AgentChanges
from voxline.storage.db import Database
from voxline.storage.tables import tools as tools_table

DEFINITION: dict[str, Any] = {
    "modelToolName": "lookup_order",
    "description": "Look up an order",
    "http": {"url": "https://shop.example/orders/{order_id}", "method": "POST"},
    "dynamicParameters": [
        {"name": "order_id", "location": "path", "schema": {"type": "string"}, "required": True}
    ],
    "staticParameters": [
        {"name": "Authorization", "location": "header", "value": "Bearer tool-secret"},
        {"name": "X-Region", "location": "header", "value": "eu"},
    ],
    "automaticParameters": [{"name": "call", "location": "body", "knownValue": "call_id"}],
    "timeout": "4s",
}


async def create(db: Database, settings: Settings, tenant: Tenant, **fields: Any) -> str:
    created = await tools.create_tool(
        db,
        settings,
        tenant.org_id,
        name=fields.get("name", "Orders"),
        definition=fields.get("definition", DEFINITION),
        render=lambda tool: tool.id,
    )
    return str(created.body)


async def test_header_values_are_sealed_in_the_row(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    tool_id = await create(db, settings, tenant)

    async with db.read() as conn:
        row = (await conn.execute(sa.select(tools_table.c.definition))).one()
    stored = row.definition["staticParameters"]

    assert "tool-secret" not in str(row.definition)
    assert [set(p) for p in stored] == [{"name", "location", "sealed"}] * 2
    box = SecretBox(settings.resolved_secret_key())
    assert box.open(stored[0]["sealed"]) == {"value": "Bearer tool-secret"}
    shown = (await tools.get_tool(db, tenant.org_id, tool_id)).definition
    assert shown is not None
    assert shown["staticParameters"][0] == {
        "name": "Authorization",
        "location": "header",
        "value": "********",
        "secret": True,
    }


async def test_load_agent_tools_opens_secrets_and_applies_overrides(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    tool_id = await create(db, settings, tenant)
    agent_id = await insert_agent(db, tenant.org_id)
    entries = [
        {
            "name": "lookup_order",
            "overrides": {
                "description": "Find the caller's order",
                "timeout": "2.5s",
                "filler": {"delayMs": 300, "text": "Checking."},
                "staticParameters": [{"name": "x-region", "value": "us"}],
            },
        },
        "end_call",
        {
            "name": "transfer_call",
            "overrides": {
                "destinations": [
                    {"to": "+14155550100", "description": "Sales"},
                    {"to": "sip:desk@pbx.example.com"},
                ],
                "message": "Putting you through.",
            },
        },
        {"name": "leave_voicemail", "overrides": {"message": "Hi {{first_name}}"}},
        "send_dtmf",
    ]
    await agents.update_agent(db, settings, tenant.org_id, agent_id, AgentChanges(tools=entries))

    loaded = await load_agent_tools(db, agent_id, settings=settings)

    (http,) = loaded.http
    assert http.tool_id == tool_id
    assert (http.model_tool_name, http.method) == ("lookup_order", "POST")
    assert http.url == "https://shop.example/orders/{order_id}"
    assert http.description == "Find the caller's order"
    assert http.timeout_seconds == 2.5
    assert http.filler == Filler(0.3, "Checking.")
    assert http.static_parameters == (
        StaticParameter("Authorization", ParameterLocation.HEADER, "Bearer tool-secret"),
        StaticParameter("X-Region", ParameterLocation.HEADER, "us"),
    )
    assert http.automatic_parameters[0].known_value is KnownValue.CALL_ID
    assert loaded.transfer == TransferSettings(
        destinations=(
            TransferDestination("+14155550100", "Sales"),
            TransferDestination("sip:desk@pbx.example.com"),
        ),
        message="Putting you through.",
    )
    assert loaded.voicemail == VoicemailSettings("Hi {{first_name}}")
    assert loaded.send_dtmf is True


async def test_an_agent_without_tools_loads_none(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)

    assert await load_agent_tools(db, agent_id, settings=settings) == AgentTools()


async def test_the_loader_follows_later_changes_to_the_tool(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    tool_id = await create(db, settings, tenant)
    agent_id = await insert_agent(db, tenant.org_id)
    await agents.update_agent(db, settings, tenant.org_id, agent_id, AgentChanges(tools=[tool_id]))
    changed = {**DEFINITION, "timeout": "30s"}
    changed["staticParameters"] = [
        {"name": "Authorization", "location": "header", "value": "********"}
    ]

    await tools.update_tool(
        db, settings, tenant.org_id, tool_id, tools.ToolChanges(definition=changed)
    )
    loaded = await load_agent_tools(db, agent_id, settings=settings)

    assert loaded.http[0].timeout_seconds == 30.0
    assert loaded.http[0].static_parameters == (
        StaticParameter("Authorization", ParameterLocation.HEADER, "Bearer tool-secret"),
    )


async def test_a_masked_override_without_a_stored_one_is_refused(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    tool_id = await create(db, settings, tenant)
    agent_id = await insert_agent(db, tenant.org_id)
    entry = {
        "tool_id": tool_id,
        "overrides": {"staticParameters": [{"name": "Authorization", "value": "********"}]},
    }

    with pytest.raises(ValidationFailed) as raised:
        await agents.update_agent(
            db, settings, tenant.org_id, agent_id, AgentChanges(tools=[entry])
        )

    assert raised.value.details["field"] == "tools[0].overrides.staticParameters[0].value"


def test_idempotency_fingerprints_are_keyed_so_a_bodys_secret_cannot_be_guessed_back() -> None:
    from voxline.services.idempotency import request_hash

    body = {"definition": {"staticParameters": [{"value": "Bearer sk-123"}]}}
    keyed = request_hash(body, "deployment-secret")
    assert keyed == request_hash(body, "deployment-secret")
    assert keyed != request_hash(body, "another-deployment")
    assert keyed != request_hash(body)  # the unkeyed SHA-256 a guesser could recompute
    assert len(keyed) == 64
