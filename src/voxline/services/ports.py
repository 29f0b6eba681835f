"""Ports: the small protocols use cases and engine loops depend on, whoever implements them.

:class:`CallStore` is implemented by :class:`voxline.storage.calls.SqlCallStore`, the one
writer of the ``calls`` table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.call_changes import CallOccurrence
from voxline.domain.calls import CallStatus
from voxline.storage.calls import ExpiredLease


class CallStore(Protocol):
    """Writes of call records; every method runs in the caller's transaction ``conn``."""

    async def insert(self, conn: AsyncConnection, values: Mapping[str, Any]) -> None:
        """Create a call row with ``values`` (its columns)."""

    async def edit(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        context: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Replace the call's client-owned ``context`` and/or ``settings``."""

    async def delete(self, conn: AsyncConnection, call_ids: Sequence[str]) -> None:
        """Delete calls and their transcripts (the caller checked they may go)."""

    async def apply_event(
        self,
        conn: AsyncConnection,
        call_id: str,
        occurrence: CallOccurrence,
        *,
        simulated_time_scale: float,
    ) -> CallStatus | None:
        """Apply ``occurrence`` to the call; its new status, or None when nothing changed
        (an unknown call, or an event the transition table ignores)."""

    async def save_session_outcome(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        recording_path: str | None,
        metrics: Mapping[str, Any],
    ) -> None:
        """Keep what a finished voice session measured, and its recording when it made one."""

    async def record_dtmf(self, conn: AsyncConnection, call_id: str, digit: str) -> None:
        """Append a key the contact pressed to ``context.dtmf``."""

    async def claim_due(
        self,
        conn: AsyncConnection,
        *,
        worker_id: str,
        lease_seconds: float,
        default_limit: int,
        batch: int,
        only_call_id: str | None = None,
    ) -> list[sa.Row[Any]]:
        """Claim up to ``batch`` due calls (or just ``only_call_id``) for ``worker_id``: the
        rows as they were before the claim."""

    async def mark_placed(
        self,
        conn: AsyncConnection,
        call_id: str,
        provider_call_id: str,
        *,
        lease_seconds: float,
        join_deadline_seconds: float,
    ) -> None:
        """The provider accepted the call; a call still queued must ring within
        ``join_deadline_seconds`` from now."""

    async def release_for_retry(
        self, conn: AsyncConnection, call_id: str, delay_seconds: float, error: str
    ) -> None:
        """Put a claimed, still queued call back in the queue after ``delay_seconds``."""

    async def renew_leases(
        self, conn: AsyncConnection, worker_id: str, call_ids: Sequence[str], lease_seconds: float
    ) -> None:
        """``worker_id`` holds the leases of the active calls among ``call_ids`` from now."""

    async def expired_leases(self, conn: AsyncConnection, limit: int) -> list[ExpiredLease]:
        """Active calls recovery must act on, the longest expired first."""

    async def requeue_unplaced(self, conn: AsyncConnection, call_id: str) -> bool:
        """Put back in the queue a call whose claim expired before it was dialed."""

    async def claim_finalization(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        now: datetime,
        recording_due: datetime | None,
        duration_seconds: int,
        cost_micros: int,
        summary: str,
    ) -> bool:
        """Mark an ended call finalized with its figures; False if it already was."""

    async def note_uncollected(self, conn: AsyncConnection, call_id: str, amount: str) -> None:
        """Record in ``context.uncollected_usd`` what the credit floor left unpaid."""

    async def claim_recording_attempt(
        self,
        conn: AsyncConnection,
        call_id: str,
        *,
        seen_due: datetime,
        seen_attempts: int | None,
        next_due: datetime | None,
        attempts: int,
        now: datetime,
    ) -> bool:
        """Take the provider-recording attempt seen as (``seen_due``, ``seen_attempts``);
        False when another process took it first."""

    async def cache_recording_url(self, conn: AsyncConnection, call_id: str, url: str) -> None:
        """Keep the provider's recording URL, unless one is kept already."""

    async def forget_recordings(self, conn: AsyncConnection, locations: Sequence[str]) -> None:
        """The recordings at ``locations`` were deleted by the retention policy: their calls
        have none any more, and remember when it was pruned (``recording_pruned_at``)."""

    async def keep_recording(self, conn: AsyncConnection, call_id: str, location: str) -> None:
        """Keep where the call's recording is, unless a location is kept already."""


class TurnLatencies(Protocol):
    """Where a finished session's turn latencies are observed (the process's metrics)."""

    def record_turns(self, metrics: Mapping[str, Any]) -> None:
        """Observe the turns of ``metrics``, a call's latency figures as stored."""
