"""Claiming queued calls for placement, at most once, within each organization's limit.

A claim marks the call as being dialed with a lease *before* the provider is asked to dial
(see :mod:`voxline.storage.calls` for how limits and fairness hold across workers). The same
transaction reads which claimed numbers are on their organization's do-not-call list, so a
number listed after its call was queued is not dialed. These
functions are the engine's view of it: each runs one transaction of the call store and speaks
in :class:`ClaimedCall` values.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxline.domain.call_changes import MIN_SCALED_JOIN_SECONDS
from voxline.domain.lines import SANDBOX
from voxline.services.call_records import CallSettings
from voxline.services.dnc import listed_among
from voxline.services.ports import CallStore
from voxline.storage.calls import CALL_STORE, ExpiredLease
from voxline.storage.db import Database

__all__ = [
    "ClaimedCall",
    "ExpiredLease",
    "claim_due_calls",
    "expired_leases",
    "mark_placed",
    "release_for_retry",
    "renew_leases",
    "requeue_unplaced",
]

# The join deadline is a backstop for a provider that never reports on a call. On a sped-up
# simulated line its scaled value is well under a second of real time, shorter than the
# event-loop stalls of a busy machine, so it has the same floor of real time as the ringing
# call's wait for its answer (voxline.domain.call_changes).
MIN_JOIN_DEADLINE_SECONDS = MIN_SCALED_JOIN_SECONDS


@dataclass(frozen=True, slots=True)
class ClaimedCall:
    id: str
    org_id: str
    agent_id: str
    to_number: str
    from_number: str
    provider_type: str
    phone_number_id: str | None
    attempts: int
    settings: CallSettings
    # On the organization's do-not-call list when claimed: the dispatcher must not dial it.
    do_not_call: bool = False


async def claim_due_calls(
    db: Database,
    *,
    worker_id: str,
    lease_seconds: float,
    default_limit: int,
    batch: int = 50,
    only_call_id: str | None = None,
    store: CallStore = CALL_STORE,
) -> list[ClaimedCall]:
    """Claim up to ``batch`` due calls (or just ``only_call_id``) for this worker; a call
    that names no provider is a sandbox call."""
    async with db.write() as conn:
        rows = await store.claim_due(
            conn,
            worker_id=worker_id,
            lease_seconds=lease_seconds,
            default_limit=default_limit,
            batch=batch,
            only_call_id=only_call_id,
        )
        listed = await listed_among(conn, {(r.organization_id, r.phone_number) for r in rows})
    return [
        ClaimedCall(
            id=r.id,
            org_id=r.organization_id,
            agent_id=r.agent_id,
            to_number=r.phone_number,
            from_number=r.from_number or "",
            provider_type=r.provider_type or SANDBOX,
            phone_number_id=r.phone_number_id,
            attempts=(r.attempts or 0) + 1,
            settings=CallSettings.from_json(r.settings or {}),
            do_not_call=(r.organization_id, r.phone_number) in listed,
        )
        for r in rows
    ]


async def mark_placed(
    db: Database,
    call: ClaimedCall,
    provider_call_id: str,
    lease_seconds: float,
    time_scale: float = 1.0,
    store: CallStore = CALL_STORE,
) -> None:
    """Record the provider's call id; a call still queued gets a join deadline from now
    (its join timeout plus ten seconds, on the clock of its line, and never less than
    :data:`MIN_JOIN_DEADLINE_SECONDS` of real time)."""
    deadline = (call.settings.join_timeout_seconds + 10) * time_scale
    async with db.write() as conn:
        await store.mark_placed(
            conn,
            call.id,
            provider_call_id,
            lease_seconds=lease_seconds,
            join_deadline_seconds=max(deadline, MIN_JOIN_DEADLINE_SECONDS),
        )


async def release_for_retry(
    db: Database, call_id: str, delay_seconds: float, error: str, store: CallStore = CALL_STORE
) -> None:
    """Put a claimed call back in the queue after a retryable failure."""
    async with db.write() as conn:
        await store.release_for_retry(conn, call_id, delay_seconds, error)


async def renew_leases(
    db: Database,
    worker_id: str,
    call_ids: list[str],
    lease_seconds: float,
    store: CallStore = CALL_STORE,
) -> None:
    """Keep the leases of the live calls this worker hosts from expiring: it holds them
    from now on (a provider call is hosted wherever its media stream arrived)."""
    if not call_ids:
        return
    async with db.write() as conn:
        await store.renew_leases(conn, worker_id, call_ids, lease_seconds)


async def expired_leases(
    db: Database, limit: int = 100, store: CallStore = CALL_STORE
) -> list[ExpiredLease]:
    """Active calls whose worker stopped renewing their lease (it died or hung), the
    longest expired first, so no number of them can starve the others."""
    async with db.read() as conn:
        return await store.expired_leases(conn, limit)


async def requeue_unplaced(db: Database, call_id: str, store: CallStore = CALL_STORE) -> bool:
    """A call whose claim expired and that the provider never dialed goes back in the queue."""
    async with db.write() as conn:
        return await store.requeue_unplaced(conn, call_id)
