"""Test data: tenants, and agent and number rows written directly to the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from fastapi import FastAPI

from voxline.api.app import create_app
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.runtime import build_runtime
from voxline.services import billing, keys, orgs
from voxline.storage.db import Database
from voxline.storage.types import utcnow

# A well-formed id that no row has. Fixed, not random: parametrized test ids must be the
# same in every pytest-xdist worker.
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


@dataclass
class Tenant:
    """An organization with an API key, as a client of the API sees it."""

    org_id: str
    key_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_tenant(db: Database, name: str = "Acme", credit: str = "10") -> Tenant:
    org = await orgs.create_org(db, name)
    issued = await keys.create_key(db, org.id)
    if Decimal(credit):
        await billing.set_balance(db, org.id, Decimal(credit))
    return Tenant(org.id, issued.key.id, issued.secret)


async def insert_agent(db: Database, org_id: str, **fields: object) -> str:
    """An agent row written directly, for tests of other resources."""
    from voxline.storage.tables import agents

    agent_id = str(uuid.uuid4())
    now = utcnow()
    values: dict[str, object] = {
        "id": agent_id,
        "organization_id": org_id,
        "name": "Test agent",
        "description": None,
        "system_prompt": "You are a helpful assistant for {{company}}.",
        "greeting": "Hello {{first_name}}, this is Ava.",
        "model": "scripted",
        "voice_id": None,
        "temperature": 0.3,
        "language_hint": "en-US",
        "recording_enabled": True,
        "join_timeout_seconds": 30.0,
        "max_duration_seconds": 3600.0,
        "status": "active",
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    async with db.write() as conn:
        await conn.execute(agents.insert().values(**values))
    return agent_id


async def insert_number(
    db: Database,
    org_id: str,
    phone_number: str,
    *,
    inbound_agent_id: str | None = None,
    outbound_agent_id: str | None = None,
    provider_type: str = "sandbox",
) -> str:
    """A phone number row written directly, for tests of other resources."""
    from voxline.storage.tables import phone_numbers

    number_id = str(uuid.uuid4())
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            phone_numbers.insert().values(
                id=number_id,
                organization_id=org_id,
                phone_number=phone_number,
                provider_type=provider_type,
                credential_id=None,
                provider_number_id=None,
                friendly_name=None,
                status="active",
                is_managed=provider_type == "sandbox",
                inbound_agent_id=inbound_agent_id,
                outbound_agent_id=outbound_agent_id,
                created_at=now,
                updated_at=now,
            )
        )
    return number_id


async def insert_call(
    db: Database,
    org_id: str,
    agent_id: str | None,
    *,
    status: str = "completed",
    direction: str = "outbound",
    phone_number: str = "+14155550100",
    settings: dict[str, object] | None = None,
    **fields: object,
) -> str:
    """A call row written directly (e.g. an ended call), for tests of reads and deletes."""
    from voxline.storage.tables import calls

    call_id = str(uuid.uuid4())
    now = utcnow()
    values: dict[str, object] = {
        "id": call_id,
        "organization_id": org_id,
        "agent_id": agent_id,
        "direction": direction,
        "status": status,
        "phone_number": phone_number,
        "from_number": "+14155550199",
        "variables": {},
        "settings": {
            "recording_enabled": True,
            "transcription_enabled": True,
            "greeting": None,
            "max_duration_seconds": 3600.0,
            "join_timeout_seconds": 30.0,
            **(settings or {}),
        },
        "context": {},
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    async with db.write() as conn:
        await conn.execute(calls.insert().values(**values))
    return call_id


async def insert_tool(
    db: Database, org_id: str, name: str = "lookup", definition: object = None
) -> str:
    """A tool row written directly (no secrets in it), for tests of other resources."""
    from voxline.storage.tables import tools

    tool_id = str(uuid.uuid4())
    now = utcnow()
    default = {
        "modelToolName": name,
        "description": "Look something up",
        "http": {"baseUrlPattern": "https://api.example/lookup", "httpMethod": "GET"},
        "dynamicParameters": [],
        "staticParameters": [],
        "automaticParameters": [],
        "timeout": "10s",
        "filler": None,
    }
    async with db.write() as conn:
        await conn.execute(
            tools.insert().values(
                id=tool_id,
                organization_id=org_id,
                name=name,
                definition=default if definition is None else definition,
                created_at=now,
                updated_at=now,
            )
        )
    return tool_id


async def insert_turn(
    db: Database, call_id: str, seq: int, speaker: str, text: str, timestamp: float
) -> None:
    """One transcript turn written directly."""
    from voxline.storage.tables import transcript_turns

    async with db.write() as conn:
        await conn.execute(
            transcript_turns.insert().values(
                call_id=call_id,
                seq=seq,
                speaker=speaker,
                text=text,
                timestamp=timestamp,
                created_at=utcnow(),
            )
        )


def app_for(
    settings: Settings,
    db: Database | None = None,
    *,
    engine: Engine | None = None,
    run_engine: bool = False,
) -> FastAPI:
    """The app over a runtime built as ``voxline serve`` builds it (see ``build_runtime``)."""
    return create_app(settings, build_runtime(settings, db, engine=engine, run_engine=run_engine))
