"""Waiting for the engine to dial a call in end-to-end tests.

``POST /calls`` dials inline only when the request wins the claim; when the engine's own
dispatcher claims the call first (likely on a loaded machine), the request returns at once
and the dialing happens moments later. Tests that talk to the provider emulator wait for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa

from tests.conftest import API
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


async def refused_call(
    http: httpx.AsyncClient,
    created: httpx.Response,
    *,
    headers: dict[str, str] | None = None,
    within: float = 30.0,
) -> dict[str, Any]:
    """The record of a call the provider refused, from the answer to its ``POST /calls``.

    When the request dialed the call itself, it answers 502 ``provider_error`` naming the call
    in ``details.call_id``; when the engine's dispatcher claimed it first, the request answered
    201 and the call ends ``failed`` moments later. Either way the record is returned once
    the call has failed.
    """
    if created.status_code == 502:
        error = created.json()["error"]
        assert error["code"] == "provider_error", error
        call_id = error["details"]["call_id"]
    else:
        assert created.status_code == 201, created.text
        call_id = created.json()["data"]["id"]
    async with asyncio.timeout(within):
        while True:
            got = await http.get(f"{API}/calls/{call_id}", headers=headers)
            call: dict[str, Any] = got.json()["data"]
            if call["status"] == "failed":
                return call
            await asyncio.sleep(0.05)
