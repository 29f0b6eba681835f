"""Webhook receipts: each provider event is applied once, however often it is delivered.

A webhook is keyed by what its provider signed (see
:func:`voxline.telephony.callbacks.event_key`): replaying a captured
request, signature and all, finds its key taken and changes nothing. A key is claimed before
the event is applied and released again if applying fails, so a provider's retry after an
error is still applied. Receipts are kept for ``webhook_receipt_retention_hours``; a replay
older than that meets the call's state machine, whose transitions are idempotent.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from voxline.storage.db import Database
from voxline.storage.tables import webhook_receipts
from voxline.storage.types import utcnow


async def claim(db: Database, provider: str, key: str, *, retention: timedelta) -> bool:
    """Record the event ``key`` of ``provider`` as being applied: True the first time, False
    when it was already claimed (a replay). Prunes receipts older than ``retention``."""
    now = utcnow()
    try:
        async with db.write() as conn:
            await conn.execute(
                sa.delete(webhook_receipts).where(webhook_receipts.c.received_at < now - retention)
            )
            await conn.execute(
                webhook_receipts.insert().values(provider=provider, event_key=key, received_at=now)
            )
    except IntegrityError:
        return False
    return True


async def release(db: Database, provider: str, key: str) -> None:
    """Forget a claim whose event could not be applied, so a retry applies it."""
    async with db.write() as conn:
        await conn.execute(
            sa.delete(webhook_receipts).where(
                webhook_receipts.c.provider == provider, webhook_receipts.c.event_key == key
            )
        )
