"""Call statuses, directions and the other enumerations of a call's life."""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self not in ACTIVE_STATUSES


ACTIVE_STATUSES = frozenset({CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS})
TERMINAL_STATUSES = frozenset(set(CallStatus) - ACTIVE_STATUSES)

# Spellings clients use in filters for the canonical statuses.
STATUS_ALIASES = {"in-progress": CallStatus.IN_PROGRESS, "ended": CallStatus.COMPLETED}


class CallDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class EndReason(StrEnum):
    CONTACT_HANGUP = "contact_hangup"
    AGENT_HANGUP = "agent_hangup"
    MAX_DURATION = "max_duration"
    JOIN_TIMEOUT = "join_timeout"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    PROVIDER_ERROR = "provider_error"
    PLACEMENT_UNKNOWN = "placement_unknown"
    REJECTED = "rejected"
    CANCELED = "canceled"
    TRANSFERRED = "transferred"
    SHUTDOWN = "shutdown"  # the process hosting the call stopped before it ended on its own


class PlacementStatus(StrEnum):
    """Values of ``calls.placement_state``: how far the engine got placing a call.

    ``None`` (no value) means nobody claimed the call yet. ``dialing``: a worker claimed it
    and may be asking the provider to dial; ``placed``: the provider accepted the call (or
    it came in from the network).
    """

    DIALING = "dialing"
    PLACED = "placed"


class AnsweredBy(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


# Keys of a call's ``context`` that the platform writes and clients may not overwrite.
PLATFORM_CONTEXT_KEYS = frozenset(
    {
        "last_error",
        "provider_cause",
        "provider_code",
        "dtmf",
        "provider_status",
        "uncollected_usd",
        "transfer",
        "batch_id",  # a batch call's campaign and contact (the link itself is a column)
        "batch_contact_id",
    }
)


class CallEvent(StrEnum):
    """Something that happened to a call, from a provider, a timer or the conversation."""

    RINGING = "ringing"
    ANSWERED = "answered"
    MACHINE_DETECTED = "machine_detected"
    HANGUP = "hangup"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"
    JOIN_TIMEOUT = "join_timeout"
    MAX_DURATION = "max_duration"
    TRANSFERRED = "transferred"  # the agent handed the caller over (a cold transfer)
    VOICEMAIL_LEFT = "voicemail_left"  # the agent left its message on an answering machine
    # The process hosting the call stopped and its drain time ran out (or was cut short).
    SHUTDOWN = "shutdown"


_PRE_ANSWER = (CallStatus.QUEUED, CallStatus.RINGING)

# The one table that decides what may follow what. Anything absent is ignored: a late,
# repeated or out-of-order event never moves a call backwards, and a terminal status is final.
TRANSITIONS: dict[tuple[CallStatus, CallEvent], CallStatus] = {
    (CallStatus.QUEUED, CallEvent.RINGING): CallStatus.RINGING,
    **{(s, CallEvent.ANSWERED): CallStatus.IN_PROGRESS for s in _PRE_ANSWER},
    **{(s, CallEvent.MACHINE_DETECTED): CallStatus.VOICEMAIL for s in _PRE_ANSWER},
    (CallStatus.IN_PROGRESS, CallEvent.MACHINE_DETECTED): CallStatus.VOICEMAIL,
    **{(s, CallEvent.BUSY): CallStatus.BUSY for s in _PRE_ANSWER},
    **{(s, CallEvent.NO_ANSWER): CallStatus.NO_ANSWER for s in _PRE_ANSWER},
    **{(s, CallEvent.JOIN_TIMEOUT): CallStatus.NO_ANSWER for s in _PRE_ANSWER},
    **{(s, CallEvent.FAILED): CallStatus.FAILED for s in _PRE_ANSWER},
    # A hang-up before anyone answered means nobody picked up.
    **{(s, CallEvent.HANGUP): CallStatus.NO_ANSWER for s in _PRE_ANSWER},
    (CallStatus.IN_PROGRESS, CallEvent.HANGUP): CallStatus.COMPLETED,
    (CallStatus.IN_PROGRESS, CallEvent.FAILED): CallStatus.COMPLETED,
    (CallStatus.IN_PROGRESS, CallEvent.MAX_DURATION): CallStatus.COMPLETED,
    (CallStatus.IN_PROGRESS, CallEvent.TRANSFERRED): CallStatus.COMPLETED,
    (CallStatus.IN_PROGRESS, CallEvent.VOICEMAIL_LEFT): CallStatus.VOICEMAIL,
    # A call the stopping process ends: a conversation completes, one not yet answered fails.
    **{(s, CallEvent.SHUTDOWN): CallStatus.FAILED for s in _PRE_ANSWER},
    (CallStatus.IN_PROGRESS, CallEvent.SHUTDOWN): CallStatus.COMPLETED,
}

_DEFAULT_END_REASONS: dict[CallEvent, EndReason] = {
    CallEvent.MACHINE_DETECTED: EndReason.VOICEMAIL,
    CallEvent.BUSY: EndReason.BUSY,
    CallEvent.NO_ANSWER: EndReason.NO_ANSWER,
    CallEvent.JOIN_TIMEOUT: EndReason.JOIN_TIMEOUT,
    CallEvent.FAILED: EndReason.PROVIDER_ERROR,
    CallEvent.HANGUP: EndReason.CONTACT_HANGUP,
    CallEvent.MAX_DURATION: EndReason.MAX_DURATION,
    CallEvent.TRANSFERRED: EndReason.TRANSFERRED,
    CallEvent.VOICEMAIL_LEFT: EndReason.VOICEMAIL,
    CallEvent.SHUTDOWN: EndReason.SHUTDOWN,
}


def next_status(current: CallStatus, event: CallEvent) -> CallStatus | None:
    """The status ``event`` leads to from ``current``, or None when it changes nothing."""
    return TRANSITIONS.get((current, event))


def default_end_reason(event: CallEvent) -> EndReason | None:
    """The end reason an event implies when its source gives none."""
    return _DEFAULT_END_REASONS.get(event)
