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


class AnsweredBy(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


# Keys of a call's ``context`` that the platform writes and clients may not overwrite.
PLATFORM_CONTEXT_KEYS = frozenset(
    {"last_error", "provider_cause", "provider_code", "dtmf", "provider_status"}
)
