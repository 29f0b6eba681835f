"""Retrying a batch contact by the outcome of its last call.

The policy is ``retry_failed``/``max_retry_attempts`` (every unsuccessful outcome retried up
to that many times, ``default_delay`` apart) plus optional per-outcome rules ``{no_answer,
busy, voicemail, failed: {max, delay}}`` that take precedence for their outcome. ``max``
counts retries, not attempts: ``max=2`` allows three calls. A completed call is never
retried, nor a contact who asked not to be called or is on the do-not-call list.

An attempt's outcome is its call's status, with one exception (:func:`attempt_outcome`): a
call that Voxline itself cut because the process hosting it stopped (``end_reason``
``shutdown``, after the drain deadline) is ``completed`` on the call, since it had been
answered, but the conversation did not finish: for the contact it counts as ``failed``, and
the ``failed`` rule (or ``retry_failed``) decides whether it is called again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from voxline.domain.calls import CallStatus, EndReason
from voxline.errors import ValidationFailed

MAX_RETRIES = 3
MAX_DELAY_SECONDS = 7 * 24 * 3600
DEFAULT_DELAY_SECONDS = 600.0


class Outcome(StrEnum):
    """The outcomes a retry rule can name (call statuses that are not success)."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"


def attempt_outcome(status: str, end_reason: str | None) -> str:
    """What a batch attempt that ended with call ``status`` and ``end_reason`` counts as:
    the status itself, except ``failed`` for a call ended by our own shutdown (answered,
    then cut by us rather than finished by either side)."""
    if status == CallStatus.COMPLETED and end_reason == EndReason.SHUTDOWN:
        return Outcome.FAILED.value
    return status


@dataclass(frozen=True, slots=True)
class RetryRule:
    max: int
    delay_seconds: float

    def __post_init__(self) -> None:
        if not 0 <= self.max <= MAX_RETRIES:
            raise ValidationFailed.field("retry_policy.max", f"must be 0 to {MAX_RETRIES}")
        if not 0 <= self.delay_seconds <= MAX_DELAY_SECONDS:
            raise ValidationFailed.field(
                "retry_policy.delay", f"must be 0 to {MAX_DELAY_SECONDS} seconds"
            )


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """``at`` is when to call again, ``None`` when the contact is done."""

    at: datetime | None

    @property
    def retry(self) -> bool:
        return self.at is not None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retry_failed: bool = False
    max_retry_attempts: int = 0
    by_outcome: Mapping[Outcome, RetryRule] = field(default_factory=dict)
    default_delay_seconds: float = DEFAULT_DELAY_SECONDS

    def __post_init__(self) -> None:
        if not 0 <= self.max_retry_attempts <= MAX_RETRIES:
            raise ValidationFailed.field("max_retry_attempts", f"must be 0 to {MAX_RETRIES}")

    def rule_for(self, outcome: Outcome) -> RetryRule | None:
        rule = self.by_outcome.get(outcome)
        if rule is not None:
            return rule
        if self.retry_failed and self.max_retry_attempts > 0:
            return RetryRule(self.max_retry_attempts, self.default_delay_seconds)
        return None

    def decide(
        self, status: str, attempts: int, ended_at: datetime, *, opted_out: bool = False
    ) -> RetryDecision:
        """After the ``attempts``-th call ended with call status ``status`` at ``ended_at``."""
        if opted_out:
            return RetryDecision(None)
        try:
            outcome = Outcome(status)
        except ValueError:
            return RetryDecision(None)  # completed, or anything that is not a failure
        rule = self.rule_for(outcome)
        if rule is None or attempts - 1 >= rule.max:
            return RetryDecision(None)
        return RetryDecision(ended_at + timedelta(seconds=rule.delay_seconds))

    def to_json(self) -> dict[str, Any]:
        return {
            o.value: {"max": r.max, "delay": r.delay_seconds} for o, r in self.by_outcome.items()
        }

    @classmethod
    def of(
        cls,
        retry_failed: bool,
        max_retry_attempts: int,
        rules: Mapping[str, Mapping[str, Any]] | None,
    ) -> RetryPolicy:
        """From the API's fields; 422 for an unknown outcome or an invalid rule."""
        by_outcome: dict[Outcome, RetryRule] = {}
        for name, rule in (rules or {}).items():
            try:
                outcome = Outcome(name)
            except ValueError:
                allowed = ", ".join(o.value for o in Outcome)
                raise ValidationFailed.field(
                    f"retry_policy.{name}", f"is not an outcome; use one of {allowed}"
                ) from None
            by_outcome[outcome] = RetryRule(
                int(rule.get("max", 0)), float(rule.get("delay", DEFAULT_DELAY_SECONDS))
            )
        return cls(retry_failed, max_retry_attempts, by_outcome)
