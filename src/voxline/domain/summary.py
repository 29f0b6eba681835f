"""The extractive call summary used when no LLM is configured.

It states the outcome, the duration and the contact's key replies, picked from the
transcript without inventing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from voxline.domain.calls import CallStatus, EndReason

_OUTCOMES = {
    CallStatus.COMPLETED: "The call was answered and completed",
    CallStatus.NO_ANSWER: "Nobody answered the call",
    CallStatus.BUSY: "The line was busy",
    CallStatus.VOICEMAIL: "The call reached voicemail",
    CallStatus.FAILED: "The call could not be placed",
}

_REASONS = {
    EndReason.CONTACT_HANGUP: "the contact hung up",
    EndReason.AGENT_HANGUP: "the agent ended it",
    EndReason.MAX_DURATION: "it reached its maximum duration",
    EndReason.JOIN_TIMEOUT: "it rang until the join timeout",
    EndReason.REJECTED: "no agent answers the number it reached",
}

_MAX_REPLIES = 3
_MAX_REPLY_CHARS = 160


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: str
    text: str
    timestamp: float


def extractive_summary(
    status: CallStatus,
    end_reason: str | None,
    duration_seconds: int | None,
    turns: Sequence[Turn],
) -> str:
    """A few plain sentences about what happened on the call."""
    sentence = _OUTCOMES.get(status, f"The call ended with status {status}")
    known = _end_reason(end_reason)
    reason = _REASONS.get(known) if known else None
    if reason:
        sentence += f"; {reason}"
    parts = [sentence + "."]
    if duration_seconds:
        minutes, seconds = divmod(duration_seconds, 60)
        length = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
        parts.append(f"Connected for {length}.")
    replies = [t.text.strip() for t in turns if t.speaker == "contact" and t.text.strip()]
    if replies:
        picked = _key_replies(replies)
        quoted = "; ".join(f'"{_clip(r)}"' for r in picked)
        parts.append(f"The contact said: {quoted}.")
    elif status == CallStatus.COMPLETED:
        parts.append("The contact did not say anything.")
    return " ".join(parts)


def _end_reason(value: str | None) -> EndReason | None:
    try:
        return EndReason(value) if value else None
    except ValueError:
        return None


def _key_replies(replies: list[str]) -> list[str]:
    """The longest replies, in the order they were said (short acknowledgements say little)."""
    ranked = sorted(range(len(replies)), key=lambda i: len(replies[i]), reverse=True)
    keep = sorted(ranked[:_MAX_REPLIES])
    return [replies[i] for i in keep]


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REPLY_CHARS else text[: _MAX_REPLY_CHARS - 1] + "…"
