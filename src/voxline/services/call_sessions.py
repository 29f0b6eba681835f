"""What a live call's agent session needs to know, loaded once when the call connects."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from voxline.services.call_records import CallSettings
from voxline.storage.db import Database
from voxline.storage.tables import agents, calls


@dataclass(frozen=True, slots=True)
class SessionProfile:
    call_id: str
    agent_id: str
    organization_id: str
    direction: str
    phone_number: str | None  # the contact's number
    from_number: str | None  # the agent's number
    system_prompt: str
    greeting: str | None
    temperature: float
    model: str
    voice_id: str | None
    variables: dict[str, str]
    recording_enabled: bool
    transcription_enabled: bool


async def load_session_profile(db: Database, call_id: str) -> SessionProfile | None:
    """The agent's prompt and the call's variables and settings (the call's greeting wins)."""
    query = (
        sa.select(
            calls.c.id,
            calls.c.agent_id,
            calls.c.organization_id,
            calls.c.direction,
            calls.c.phone_number,
            calls.c.from_number,
            calls.c.variables,
            calls.c.settings,
            agents.c.system_prompt,
            agents.c.greeting,
            agents.c.temperature,
            agents.c.model,
            agents.c.voice_id,
        )
        .select_from(calls.outerjoin(agents, agents.c.id == calls.c.agent_id))
        .where(calls.c.id == call_id)
    )
    async with db.read() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    settings = CallSettings.from_json(row.settings or {})
    return SessionProfile(
        call_id=row.id,
        agent_id=row.agent_id,
        organization_id=row.organization_id,
        direction=row.direction,
        phone_number=row.phone_number,
        from_number=row.from_number,
        system_prompt=row.system_prompt or "",
        greeting=settings.greeting if settings.greeting is not None else row.greeting,
        temperature=float(row.temperature if row.temperature is not None else 0.3),
        model=row.model or "scripted",
        voice_id=row.voice_id,
        variables={str(k): str(v) for k, v in (row.variables or {}).items()},
        recording_enabled=settings.recording_enabled,
        transcription_enabled=settings.transcription_enabled,
    )
