"""Batch calls (campaigns), the pure part: statuses, the one transition table, contact
statuses and the counters a batch reports.

A batch moves ``draft`` → ``scheduled`` → ``active`` → ``completed``; ``paused`` is reachable
from ``scheduled`` and ``active`` and goes back (``resume``) to ``scheduled`` when the start is
still ahead, else to ``active``. ``cancelled`` stops it by hand, ``failed`` marks a
configuration that cannot run. :func:`transition` applies an action: an action that leaves a
batch where it already is (pausing a paused batch) is accepted and changes nothing, one the
table does not allow is ``None``.

A batch contact is ``pending`` (never tried), ``calling`` (a call exists and has not been
finalized), ``scheduled`` (waiting for a retry at ``next_attempt_at``) or terminal: the
outcome of its last call (``completed``, ``failed``, ``no_answer``, ``busy``, ``voicemail``),
``skipped`` (on the do-not-call list, or asked not to be called) or ``cancelled`` (the batch
was cancelled before it was reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class BatchStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_BATCH_STATUSES

    @property
    def runs(self) -> bool:
        """Whether the scheduler turns this batch's due contacts into calls."""
        return self in (BatchStatus.SCHEDULED, BatchStatus.ACTIVE)


TERMINAL_BATCH_STATUSES = frozenset(
    {BatchStatus.COMPLETED, BatchStatus.FAILED, BatchStatus.CANCELLED}
)
# Where a batch may be edited (PATCH) or given more contacts.
EDITABLE_STATUSES = frozenset({BatchStatus.DRAFT, BatchStatus.SCHEDULED, BatchStatus.PAUSED})
DELETABLE_STATUSES = frozenset({BatchStatus.DRAFT, BatchStatus.FAILED, BatchStatus.CANCELLED})


class BatchAction(StrEnum):
    SCHEDULE = "schedule"
    START = "start"  # the scheduler reached the start of a scheduled batch
    PAUSE = "pause"
    RESUME_SCHEDULED = "resume_scheduled"  # resume before the start
    RESUME_ACTIVE = "resume_active"  # resume after the start
    CANCEL = "cancel"
    COMPLETE = "complete"  # every contact is terminal
    FAIL = "fail"


_S = BatchStatus
# The one table of what may follow what.
TRANSITIONS: dict[tuple[BatchStatus, BatchAction], BatchStatus] = {
    (_S.DRAFT, BatchAction.SCHEDULE): _S.SCHEDULED,
    (_S.SCHEDULED, BatchAction.START): _S.ACTIVE,
    (_S.SCHEDULED, BatchAction.PAUSE): _S.PAUSED,
    (_S.ACTIVE, BatchAction.PAUSE): _S.PAUSED,
    (_S.PAUSED, BatchAction.RESUME_SCHEDULED): _S.SCHEDULED,
    (_S.PAUSED, BatchAction.RESUME_ACTIVE): _S.ACTIVE,
    **{
        (s, BatchAction.CANCEL): _S.CANCELLED
        for s in (_S.DRAFT, _S.SCHEDULED, _S.ACTIVE, _S.PAUSED)
    },
    (_S.SCHEDULED, BatchAction.COMPLETE): _S.COMPLETED,
    (_S.ACTIVE, BatchAction.COMPLETE): _S.COMPLETED,
    **{(s, BatchAction.FAIL): _S.FAILED for s in (_S.DRAFT, _S.SCHEDULED, _S.ACTIVE, _S.PAUSED)},
}

# Where an action has already had its effect: applying it there again changes nothing.
_ALREADY: dict[BatchAction, frozenset[BatchStatus]] = {
    BatchAction.SCHEDULE: frozenset({_S.SCHEDULED, _S.ACTIVE}),
    BatchAction.START: frozenset({_S.ACTIVE}),
    BatchAction.PAUSE: frozenset({_S.PAUSED}),
    BatchAction.RESUME_SCHEDULED: frozenset({_S.SCHEDULED, _S.ACTIVE}),
    BatchAction.RESUME_ACTIVE: frozenset({_S.SCHEDULED, _S.ACTIVE}),
    BatchAction.CANCEL: frozenset({_S.CANCELLED}),
    BatchAction.COMPLETE: frozenset({_S.COMPLETED}),
    BatchAction.FAIL: frozenset({_S.FAILED}),
}


@dataclass(frozen=True, slots=True)
class BatchTransition:
    """The outcome of an allowed action: ``changed`` is False when the batch already was in
    ``status`` (an idempotent repeat)."""

    previous: BatchStatus
    status: BatchStatus

    @property
    def changed(self) -> bool:
        return self.previous is not self.status


def transition(current: BatchStatus, action: BatchAction) -> BatchTransition | None:
    """Apply ``action`` to a batch in ``current``; ``None`` when the table forbids it."""
    target = TRANSITIONS.get((current, action))
    if target is not None:
        return BatchTransition(current, target)
    if current in _ALREADY[action]:
        return BatchTransition(current, current)
    return None


def resume_action(scheduled_at: datetime | None, now: datetime) -> BatchAction:
    """Resuming goes back to ``scheduled`` while the start is still ahead, else ``active``."""
    if scheduled_at is not None and scheduled_at > now:
        return BatchAction.RESUME_SCHEDULED
    return BatchAction.RESUME_ACTIVE


class ContactStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    CALLING = "calling"
    COMPLETED = "completed"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self not in OPEN_CONTACT_STATUSES


# Contacts the scheduler may still call (``calling`` ones wait for their call to end).
WAITING_CONTACT_STATUSES = frozenset({ContactStatus.PENDING, ContactStatus.SCHEDULED})
OPEN_CONTACT_STATUSES = WAITING_CONTACT_STATUSES | {ContactStatus.CALLING}
UNSUCCESSFUL_CONTACT_STATUSES = frozenset(
    {
        ContactStatus.FAILED,
        ContactStatus.NO_ANSWER,
        ContactStatus.BUSY,
        ContactStatus.VOICEMAIL,
        ContactStatus.SKIPPED,
    }
)


@dataclass(frozen=True, slots=True)
class BatchCounters:
    """The counters of a batch object (§4.2), from the number of contacts in each status
    and how many were tried at least once.

    ``completed`` counts contacts whose last call completed; ``failed`` those that ended any
    other way (including ``skipped``); ``pending`` those not finished yet (never tried,
    waiting for a retry, or on a call); ``called`` those tried at least once.
    """

    total_contacts: int
    called: int
    completed: int
    failed: int
    pending: int

    @classmethod
    def of(cls, by_status: dict[ContactStatus, int], called: int) -> BatchCounters:
        return cls(
            total_contacts=sum(by_status.values()),
            called=called,
            completed=by_status.get(ContactStatus.COMPLETED, 0),
            failed=sum(by_status.get(s, 0) for s in UNSUCCESSFUL_CONTACT_STATUSES),
            pending=sum(by_status.get(s, 0) for s in OPEN_CONTACT_STATUSES),
        )
