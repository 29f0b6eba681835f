"""Waiting for the engine to dial a call in end-to-end tests.

``POST /calls`` dials inline only when the request wins the claim; when the engine's own
dispatcher claims the call first (likely on a loaded machine), the request returns at once
and the dialing happens moments later. Tests that talk to the provider emulator wait for it.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from voxline.storage.db import Database
from voxline.storage.tables import calls


async def wait_dialed(db: Database, call_id: str, within: float = 30.0) -> str:
    """The provider's call id, once the engine has dialed ``call_id`` and recorded it."""
    async with asyncio.timeout(within):
        while True:
            async with db.read() as conn:
                provider_call_id = (
                    await conn.execute(
                        sa.select(calls.c.provider_call_id).where(calls.c.id == call_id)
                    )
                ).scalar_one_or_none()
            if provider_call_id:
                return str(provider_call_id)
            await asyncio.sleep(0.02)
