"""Applying what happened to a call: the pure step from a call's state and an event to the change.

:func:`apply` is the only place that turns an event (from a provider, a timer, recovery or
the conversation) into new column values of a call. It asks the transition table of
:mod:`voxline.domain.calls`, so an event the table does not allow changes nothing: applying
an event twice, late or out of order is harmless, and a terminal status is final.

The time an event reports is clamped to the call's life so far (its creation to ``now``,
:func:`voxline.domain.call_clock.bounded_time`), whoever reported it: a validly signed
provider event with an old or a future time can neither bill years nor make a call free, nor
move its ``max_duration`` deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from voxline.domain.call_clock import bounded_time
from voxline.domain.calls import (
    AnsweredBy,
    CallEvent,
    CallStatus,
    EndReason,
    default_end_reason,
    next_status,
)

DEFAULT_FAILURE_MESSAGE = "call failed"
DEFAULT_JOIN_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_DURATION_SECONDS = 3600.0
# On a sped-up simulated line (time_scale < 1) a scaled join timeout is a few seconds of real
# time (30 s at 0.1: 3 s), no longer than the stalls of a busy machine between a provider's
# answer and the engine recording it; a ringing call answered 0.6 s after it rang was ended
# ``no_answer`` that way under CI load. So the scaled timeout has a floor of real time, never
# above the unscaled timeout (a line at real speed keeps its timeout exactly).
MIN_SCALED_JOIN_SECONDS = 5.0


def join_wait_seconds(join_timeout_seconds: float, time_scale: float) -> float:
    """How long, in real seconds, a ringing call waits for its answer on a line whose clock
    runs ``time_scale`` times as fast: the scaled timeout, at least
    :data:`MIN_SCALED_JOIN_SECONDS` (or the timeout itself, if shorter)."""
    floor = min(join_timeout_seconds, MIN_SCALED_JOIN_SECONDS)
    return max(join_timeout_seconds * time_scale, floor)


@dataclass(frozen=True, slots=True)
class CallState:
    """What a transition needs to know of a call.

    ``time_scale`` is how fast the clock of the call's line runs (deadlines are scaled by
    it); ``lease_follows_media`` says whether, once answered, the call's lease belongs to
    the process hosting its media stream (see :mod:`voxline.domain.lines`).
    """

    status: CallStatus
    created_at: datetime
    started_at: datetime | None = None
    provider_call_id: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    join_timeout_seconds: float = DEFAULT_JOIN_TIMEOUT_SECONDS
    max_duration_seconds: float = DEFAULT_MAX_DURATION_SECONDS
    time_scale: float = 1.0
    lease_follows_media: bool = False
    leaves_voicemail: bool = False


@dataclass(frozen=True, slots=True)
class CallOccurrence:
    """Something that happened to a call, in domain terms.

    ``at`` is when its source says it happened (checked against the call's life before
    use); ``answered_at`` is when a machine-answered call was picked up, when its source
    knows. ``message`` and ``provider_code`` describe a failure for ``context``.
    """

    event: CallEvent
    at: datetime
    provider_call_id: str | None = None
    answered_by: AnsweredBy | None = None
    end_reason: EndReason | None = None
    cause: str | None = None
    message: str | None = None
    provider_code: str | None = None
    answered_at: datetime | None = None
    transfer_to: str | None = None


class LeaseChange(StrEnum):
    """What a transition does to the call's lease."""

    KEEP = "keep"
    EXPIRE = "expire"
    """The lease no longer expires (nobody needs to recover an ended call); its owner stays
    on record."""
    HAND_OVER = "hand_over"
    """Owner and expiry are cleared: the process that will host the media stream takes it."""


@dataclass(frozen=True, slots=True)
class CallChange:
    """The new values of a call after a transition.

    ``status``, ``updated_at`` and ``deadline_at`` are always written (a ``deadline_at`` of
    None clears the deadline). ``provider_call_id``, ``started_at`` and ``answered_by`` are
    written when not None. ``ended_at``, ``end_reason`` and ``context`` are written when the
    new status is terminal (``context`` is then the whole new context).
    """

    status: CallStatus
    updated_at: datetime
    deadline_at: datetime | None
    provider_call_id: str | None = None
    started_at: datetime | None = None
    answered_by: AnsweredBy | None = None
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    context: Mapping[str, Any] | None = None
    lease: LeaseChange = LeaseChange.KEEP

    @property
    def ends_call(self) -> bool:
        return self.status.is_terminal


def learned_provider_call_id(state: CallState, occurrence: CallOccurrence) -> str | None:
    """The provider's id of the call when ``occurrence`` tells it first (None otherwise)."""
    if occurrence.provider_call_id and not state.provider_call_id:
        return occurrence.provider_call_id
    return None


def apply(state: CallState, occurrence: CallOccurrence, now: datetime) -> CallChange | None:
    """The change ``occurrence`` makes to a call in ``state`` at ``now``; None when the
    transition table does not allow it (the call stays as it is)."""
    event = occurrence.event
    if event is CallEvent.MACHINE_DETECTED and state.leaves_voicemail:
        # The agent leaves a message: a machine is someone to talk to. Before the answer
        # it counts as the answer; after, the agent's session already knows (the greeting
        # and the beep) and ends the call as a voicemail itself.
        if state.status is not CallStatus.RINGING and state.status is not CallStatus.QUEUED:
            return None
        occurrence = replace(
            occurrence, event=CallEvent.ANSWERED, answered_by=AnsweredBy.MACHINE, end_reason=None
        )
    new = next_status(state.status, occurrence.event)
    if new is None:
        return None
    at = bounded_time(occurrence.at, not_before=state.created_at, not_after=now)
    provider_call_id = learned_provider_call_id(state, occurrence)
    if new is CallStatus.RINGING:
        deadline = at + timedelta(
            seconds=join_wait_seconds(state.join_timeout_seconds, state.time_scale)
        )
        return CallChange(new, now, deadline, provider_call_id)
    if new is CallStatus.IN_PROGRESS:
        return CallChange(
            new,
            now,
            at + timedelta(seconds=state.max_duration_seconds * state.time_scale),
            provider_call_id,
            started_at=at,
            answered_by=occurrence.answered_by or AnsweredBy.HUMAN,
            lease=LeaseChange.HAND_OVER if state.lease_follows_media else LeaseChange.KEEP,
        )
    started_at = None
    if new is CallStatus.VOICEMAIL and state.started_at is None:
        answered_at = occurrence.answered_at or at
        started_at = bounded_time(answered_at, not_before=state.created_at, not_after=at)
    return CallChange(
        new,
        now,
        None,
        provider_call_id,
        started_at=started_at,
        answered_by=occurrence.answered_by,
        ended_at=at,
        end_reason=occurrence.end_reason or default_end_reason(occurrence.event),
        context=_ended_context(state, occurrence, new),
        lease=LeaseChange.EXPIRE,
    )


def _ended_context(state: CallState, occurrence: CallOccurrence, new: CallStatus) -> dict[str, Any]:
    context = dict(state.context)
    if occurrence.cause:
        context["provider_cause"] = occurrence.cause
    if occurrence.event is CallEvent.TRANSFERRED:
        context["transfer"] = {
            "to": occurrence.transfer_to,
            "at": occurrence.at.isoformat(),
            "status": "completed",
        }
    if new is CallStatus.FAILED or occurrence.event is CallEvent.FAILED:
        context["last_error"] = occurrence.message or occurrence.cause or DEFAULT_FAILURE_MESSAGE
        if occurrence.provider_code:
            context["provider_code"] = occurrence.provider_code
    return context
