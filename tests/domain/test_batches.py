from datetime import UTC, datetime, timedelta

import pytest

from voxline.domain.batches import (
    TRANSITIONS,
    BatchAction,
    BatchCounters,
    BatchStatus,
    ContactStatus,
    resume_action,
    transition,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_the_lifecycle_of_a_batch() -> None:
    status = BatchStatus.DRAFT
    for action, expected in [
        (BatchAction.SCHEDULE, BatchStatus.SCHEDULED),
        (BatchAction.START, BatchStatus.ACTIVE),
        (BatchAction.PAUSE, BatchStatus.PAUSED),
        (BatchAction.RESUME_ACTIVE, BatchStatus.ACTIVE),
        (BatchAction.COMPLETE, BatchStatus.COMPLETED),
    ]:
        step = transition(status, action)
        assert step is not None and step.changed
        status = step.status
        assert status is expected


def test_repeating_an_action_changes_nothing() -> None:
    step = transition(BatchStatus.PAUSED, BatchAction.PAUSE)
    assert step is not None and not step.changed
    step = transition(BatchStatus.CANCELLED, BatchAction.CANCEL)
    assert step is not None and not step.changed
    step = transition(BatchStatus.ACTIVE, BatchAction.RESUME_SCHEDULED)
    assert step is not None and step.status is BatchStatus.ACTIVE and not step.changed


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (BatchStatus.DRAFT, BatchAction.PAUSE),
        (BatchStatus.DRAFT, BatchAction.RESUME_ACTIVE),
        (BatchStatus.COMPLETED, BatchAction.CANCEL),
        (BatchStatus.CANCELLED, BatchAction.RESUME_ACTIVE),
        (BatchStatus.PAUSED, BatchAction.COMPLETE),
        (BatchStatus.PAUSED, BatchAction.SCHEDULE),
    ],
)
def test_forbidden_actions_are_refused(status: BatchStatus, action: BatchAction) -> None:
    assert transition(status, action) is None


def test_terminal_statuses_have_no_way_out() -> None:
    for (status, _action), _target in TRANSITIONS.items():
        assert not status.is_terminal


def test_resume_goes_back_to_scheduled_only_before_the_start() -> None:
    assert resume_action(NOW + timedelta(hours=1), NOW) is BatchAction.RESUME_SCHEDULED
    assert resume_action(NOW - timedelta(hours=1), NOW) is BatchAction.RESUME_ACTIVE
    assert resume_action(None, NOW) is BatchAction.RESUME_ACTIVE


def test_counters_from_contact_statuses() -> None:
    counters = BatchCounters.of(
        {
            ContactStatus.PENDING: 3,
            ContactStatus.CALLING: 1,
            ContactStatus.SCHEDULED: 2,
            ContactStatus.COMPLETED: 4,
            ContactStatus.BUSY: 1,
            ContactStatus.SKIPPED: 1,
            ContactStatus.CANCELLED: 5,
        },
        called=7,
    )
    assert counters.total_contacts == 17
    assert (counters.completed, counters.failed, counters.pending, counters.called) == (4, 2, 6, 7)


def test_open_and_terminal_contact_statuses() -> None:
    assert not ContactStatus.CALLING.is_terminal
    assert ContactStatus.SKIPPED.is_terminal
