"""Placeholder until the Tools API lands: agents have no tools yet."""

from __future__ import annotations

from voxline.domain.tools import AgentTools
from voxline.storage.db import Database


async def load_agent_tools(db: Database, agent_id: str) -> AgentTools:
    return AgentTools()
