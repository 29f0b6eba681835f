"""What the scrape-time gauges of ``GET /metrics`` count in the database.

Two statements per scrape, each bounded by work in flight rather than by history: live
calls grouped by status and provider (an index range over the active statuses of
``calls``; how many calls are active is bounded by the organizations' concurrency limits),
and the pending rows of ``webhook_deliveries`` (its ``(status, next_attempt_at)`` index).
``call_counts`` would be cheaper still for calls, but it has no provider column.

The counts are the deployment's, not this process's: every node reports the same figures,
so a dashboard takes ``max`` over nodes, not ``sum``.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from voxline.domain.calls import ACTIVE_STATUSES
from voxline.domain.webhooks import DeliveryStatus
from voxline.ops.metrics import NO_PROVIDER, DatabaseCounts
from voxline.storage.db import Database
from voxline.storage.tables import calls, webhook_deliveries
from voxline.storage.types import utcnow

__all__ = ["count"]


async def count(db: Database, providers: Iterable[str]) -> DatabaseCounts:
    """Live calls (for each active status and each of ``providers``, zero when none) and
    the webhook outbox."""
    names = tuple(providers)
    live = {(str(status), provider): 0 for status in ACTIVE_STATUSES for provider in names}
    rows = await db.query(
        sa.select(calls.c.status, calls.c.provider_type, sa.func.count().label("n"))
        .where(calls.c.status.in_([str(status) for status in ACTIVE_STATUSES]))
        .group_by(calls.c.status, calls.c.provider_type)
    )
    for row in rows:
        live[(row.status, row.provider_type or NO_PROVIDER)] = int(row.n)
    pending = webhook_deliveries.c.status == DeliveryStatus.PENDING.value
    due = sa.case((webhook_deliveries.c.next_attempt_at <= utcnow(), 1), else_=0)
    backlog = (
        await db.query(
            sa.select(
                sa.func.count().label("pending"),
                sa.func.coalesce(sa.func.sum(due), 0).label("due"),
            ).where(pending)
        )
    )[0]
    return DatabaseCounts(
        live_calls=live, webhooks_pending=int(backlog.pending), webhooks_due=int(backlog.due)
    )
