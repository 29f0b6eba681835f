from datetime import UTC, datetime, timedelta

import pytest

from voxline.domain.retries import Outcome, RetryPolicy, RetryRule, attempt_outcome
from voxline.errors import ValidationFailed

ENDED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_retry_failed_retries_every_unsuccessful_outcome_up_to_the_maximum() -> None:
    policy = RetryPolicy(retry_failed=True, max_retry_attempts=2, default_delay_seconds=60)
    for status in ("no_answer", "busy", "voicemail", "failed"):
        assert policy.decide(status, 1, ENDED).at == ENDED + timedelta(seconds=60)
        assert policy.decide(status, 2, ENDED).retry
        assert not policy.decide(status, 3, ENDED).retry


def test_a_completed_call_is_never_retried() -> None:
    policy = RetryPolicy(retry_failed=True, max_retry_attempts=3)
    assert not policy.decide("completed", 1, ENDED).retry


def test_without_retry_failed_nothing_is_retried() -> None:
    assert not RetryPolicy(retry_failed=False, max_retry_attempts=3).decide("busy", 1, ENDED).retry


def test_rules_by_outcome_take_precedence() -> None:
    policy = RetryPolicy(
        retry_failed=True,
        max_retry_attempts=1,
        by_outcome={
            Outcome.BUSY: RetryRule(max=3, delay_seconds=120),
            Outcome.VOICEMAIL: RetryRule(max=0, delay_seconds=0),
        },
    )
    assert policy.decide("busy", 3, ENDED).at == ENDED + timedelta(seconds=120)
    assert not policy.decide("busy", 4, ENDED).retry
    assert not policy.decide("voicemail", 1, ENDED).retry
    assert policy.decide("no_answer", 1, ENDED).retry  # falls back to retry_failed
    assert not policy.decide("no_answer", 2, ENDED).retry


def test_a_rule_alone_retries_its_outcome_only() -> None:
    policy = RetryPolicy.of(False, 0, {"no_answer": {"max": 1, "delay": 30}})
    assert policy.decide("no_answer", 1, ENDED).at == ENDED + timedelta(seconds=30)
    assert not policy.decide("busy", 1, ENDED).retry


def test_a_contact_who_opted_out_is_not_retried() -> None:
    policy = RetryPolicy(retry_failed=True, max_retry_attempts=3)
    assert not policy.decide("failed", 1, ENDED, opted_out=True).retry
    assert policy.decide("failed", 1, ENDED).retry


@pytest.mark.parametrize(
    "rules",
    [
        {"declined": {"max": 1}},
        {"busy": {"max": 4}},
        {"busy": {"max": -1}},
        {"busy": {"max": 1, "delay": -5}},
    ],
)
def test_invalid_rules_are_refused(rules: dict[str, dict[str, float]]) -> None:
    with pytest.raises(ValidationFailed):
        RetryPolicy.of(True, 1, rules)


def test_max_retry_attempts_is_bounded() -> None:
    with pytest.raises(ValidationFailed):
        RetryPolicy(True, 4)
    assert RetryPolicy(True, 3).max_retry_attempts == 3


def test_a_call_cut_by_our_shutdown_counts_as_failed_and_is_retried_by_the_failed_rule() -> None:
    assert attempt_outcome("completed", "shutdown") == "failed"
    assert attempt_outcome("failed", "shutdown") == "failed"  # cut before it was answered
    policy = RetryPolicy.of(False, 0, {"failed": {"max": 1, "delay": 30}})
    outcome = attempt_outcome("completed", "shutdown")
    assert policy.decide(outcome, 1, ENDED).at == ENDED + timedelta(seconds=30)
    assert not policy.decide(outcome, 2, ENDED).retry


def test_a_call_finished_by_either_side_keeps_its_status() -> None:
    for reason in ("contact_hangup", "agent_hangup", "max_duration", None):
        assert attempt_outcome("completed", reason) == "completed"
    assert attempt_outcome("busy", "busy") == "busy"
    policy = RetryPolicy(retry_failed=True, max_retry_attempts=3)
    assert not policy.decide(attempt_outcome("completed", "contact_hangup"), 1, ENDED).retry
