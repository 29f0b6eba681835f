"""Timers: join_timeout and max_duration, and recovery of calls whose worker stopped.

A ringing call past its deadline ends ``no_answer`` (``join_timeout``); a call in progress
past its deadline ends ``completed`` (``max_duration``). The outcome is recorded first and
the provider asked to hang up after, so the provider's own hang-up report cannot claim a
different reason.

Recovery: a claim whose lease expired before the provider confirmed the placement is asked
of the provider; a call never dialed goes back in the queue, anything else ends ``failed``
with ``placement_unknown`` (a person is never dialed twice). A sandbox call whose hosting
worker stopped cannot continue (its conversation lived in that process) and ends with
``provider_error``; so does a provider call whose media host stopped (nobody speaks on it
any more), and the provider is asked to hang it up. Either ends when it was last known
alive, its last lease renewal, and is billed up to then, not up to when recovery ran.
Recovery takes the longest-expired leases first (``claims.expired_leases``).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from voxline.config import Settings
from voxline.domain.call_clock import last_alive
from voxline.domain.calls import CallEvent, CallStatus, EndReason, PlacementStatus
from voxline.domain.lines import SANDBOX
from voxline.engine.claims import ExpiredLease, expired_leases, requeue_unplaced
from voxline.engine.wakeup import DISPATCH, FINALIZE, Wakeups
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.services.call_events import apply_event
from voxline.services.provider_calls import hang_up, provider_call_of
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow
from voxline.telephony.base import PlacementState, ProviderEvent
from voxline.telephony.registry import ProviderRegistry

log = get_logger("engine.timers")

_TIMED = [CallStatus.QUEUED.value, CallStatus.RINGING.value, CallStatus.IN_PROGRESS.value]


class Timers:
    def __init__(
        self, db: Database, settings: Settings, registry: ProviderRegistry, wakeups: Wakeups
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.wakeups = wakeups

    async def run(self, stop: asyncio.Event) -> None:
        interval = min(self.settings.engine_poll_seconds, 0.5)
        while not stop.is_set():
            try:
                await self.expire_deadlines()
                await self.recover_expired_leases()
            except Exception:
                log.exception("timer round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def expire_deadlines(self) -> int:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        calls.c.id, calls.c.status, calls.c.provider_type, calls.c.provider_call_id
                    )
                    .where(calls.c.status.in_(_TIMED), calls.c.deadline_at <= utcnow())
                    .limit(200)
                )
            ).all()
        for row in rows:
            in_progress = row.status == CallStatus.IN_PROGRESS.value
            event = CallEvent.MAX_DURATION if in_progress else CallEvent.JOIN_TIMEOUT
            changed = await apply_event(
                self.db, ProviderEvent(call_id=row.id, event=event, at=utcnow())
            )
            if changed is not None:
                self.wakeups.wake(FINALIZE)
                await self._hangup(row)
        return len(rows)

    async def _hangup(self, row: Any) -> None:
        """Ask the provider to end the call, with its own number's credentials, whichever
        process placed or received it."""
        await hang_up(self.db, self.settings, self.registry, row.id)

    async def recover_expired_leases(self) -> int:
        expired = await expired_leases(self.db)
        for call in expired:
            if call.placement_state is PlacementStatus.DIALING and call.status is CallStatus.QUEUED:
                await self._recover_placement(call.id, call.provider_type or SANDBOX)
            elif call.simulated:
                await self._end(
                    call.id,
                    EndReason.PROVIDER_ERROR,
                    "the worker hosting this call stopped",
                    at=self._last_alive(call),
                )
            elif call.status is CallStatus.IN_PROGRESS:
                changed = await self._end(
                    call.id,
                    EndReason.PROVIDER_ERROR,
                    "the process holding this call's media stream stopped",
                    at=self._last_alive(call),
                )
                if changed:
                    await self._hangup(call)
        return len(expired)

    def _last_alive(self, call: ExpiredLease) -> datetime:
        return last_alive(
            lease_expires_at=call.lease_expires_at,
            lease_seconds=self.settings.engine_lease_seconds,
            started_at=call.started_at,
            created_at=call.created_at,
        )

    async def _recover_placement(self, call_id: str, provider_type: str) -> None:
        state = PlacementState.UNKNOWN
        call = await provider_call_of(self.db, self.settings, call_id)
        if provider_type in self.registry and call is not None:
            try:
                state = await self.registry.get(provider_type).placement_state(call)
            except ProviderError:
                state = PlacementState.UNKNOWN
        if state is PlacementState.NOT_PLACED:
            if await requeue_unplaced(self.db, call_id):
                log.info(
                    "unplaced call requeued after its worker stopped", extra={"call_id": call_id}
                )
                self.wakeups.wake(DISPATCH)
            return
        await self._end(
            call_id,
            EndReason.PLACEMENT_UNKNOWN,
            "The worker placing this call stopped; whether it was dialed cannot be known, "
            "so it was not retried",
        )

    async def _end(
        self, call_id: str, reason: EndReason, message: str, at: datetime | None = None
    ) -> bool:
        changed = await apply_event(
            self.db,
            ProviderEvent(
                call_id=call_id,
                event=CallEvent.FAILED,
                at=at or utcnow(),
                end_reason=reason,
                cause=reason.value,
                details={"message": message},
            ),
        )
        if changed is not None:
            log.warning(
                "call ended by recovery", extra={"call_id": call_id, "reason": reason.value}
            )
            self.wakeups.wake(FINALIZE)
        return changed is not None
