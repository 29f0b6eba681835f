"""The agents service: rules on values, defaults, and how much it asks the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.factories import Tenant, insert_agent, insert_number
from voxline.config import Settings, load_settings
from voxline.domain.agents import AgentStatus
from voxline.errors import NotFound, ValidationFailed
from voxline.services import agents
from voxline.services.agents import AgentChanges, AgentDraft
from voxline.services.tool_secrets import box_for
from voxline.storage.db import Database
from voxline.storage.tables import agents as agents_table


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine sends while the block runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(Engine, "before_cursor_execute", record)


async def count_agents(db: Database) -> int:
    async with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(agents_table)
        return int((await conn.execute(query)).scalar_one())


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "scripted"),
        ({"llm_base_url": "http://127.0.0.1:11434/v1"}, "scripted"),
        ({"llm_base_url": "http://127.0.0.1:11434/v1", "llm_model": "qwen"}, "qwen"),
        ({"llm_model": "qwen"}, "scripted"),
    ],
)
def test_default_model_is_the_configured_llm_else_scripted(
    tmp_path: Path, overrides: dict[str, str], expected: str
) -> None:
    unset: dict[str, str | None] = {"llm_base_url": None, "llm_model": None}
    settings = load_settings(data_dir=tmp_path, **{**unset, **overrides})

    assert agents.default_model(settings) == expected


async def test_listing_a_page_loads_all_numbers_in_one_query(db: Database, tenant: Tenant) -> None:
    async def statements_for_page() -> int:
        with counting_statements() as seen:
            page = await agents.list_agents(db, tenant.org_id)
        assert all(a.inbound_numbers for a in page.items)
        return len(seen)

    first = await insert_agent(db, tenant.org_id)
    await insert_number(db, tenant.org_id, "+14155550120", inbound_agent_id=first)
    one_agent = await statements_for_page()
    for i in range(5):
        agent_id = await insert_agent(db, tenant.org_id)
        await insert_number(db, tenant.org_id, f"+1415555013{i}", inbound_agent_id=agent_id)

    assert await statements_for_page() == one_agent


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (AgentDraft(name=" ", system_prompt="p"), "name"),
        (AgentDraft(name="n", system_prompt="p", status=AgentStatus.CREATING), "status"),
        (AgentDraft(name="n", system_prompt="p", voice_id="nope"), "voice_id"),
        (AgentDraft(name="n", system_prompt="p", temperature=2.0), "temperature"),
        (AgentDraft(name="n", system_prompt="p", join_timeout="10"), "join_timeout"),
        (AgentDraft(name="n", system_prompt="p", language_hint="en_US"), "language_hint"),
        (AgentDraft(name="n", system_prompt="p", model=""), "model"),
    ],
)
async def test_service_enforces_the_rules_whoever_calls_it(
    db: Database, settings: Settings, tenant: Tenant, draft: AgentDraft, field: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        async with db.write() as conn:
            await agents.insert_agent(
                conn, tenant.org_id, draft, model="scripted", box=box_for(settings)
            )

    assert raised.value.details["field"] == field
    assert await count_agents(db) == 0


async def test_empty_update_only_moves_updated_at(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)
    before = await agents.get_agent(db, tenant.org_id, agent_id)

    after = await agents.update_agent(db, settings, tenant.org_id, agent_id, AgentChanges())

    assert after.updated_at > before.updated_at
    assert {**vars_of(after), "updated_at": None} == {**vars_of(before), "updated_at": None}


async def test_agents_of_another_organization_are_not_found(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent_id = await insert_agent(db, tenant.org_id)

    with pytest.raises(NotFound):
        await agents.get_agent(db, other_tenant.org_id, agent_id)
    with pytest.raises(NotFound):
        await agents.update_agent(
            db, settings, other_tenant.org_id, agent_id, AgentChanges(name="x")
        )
    with pytest.raises(NotFound):
        await agents.delete_agent(db, other_tenant.org_id, agent_id)
    assert (await agents.get_agent(db, tenant.org_id, agent_id)).name == "Test agent"


def vars_of(agent: agents.Agent) -> dict[str, Any]:
    return {name: getattr(agent, name) for name in agent.__dataclass_fields__}
