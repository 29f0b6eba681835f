"""The call state machine."""

from __future__ import annotations

import pytest

from voxline.domain.calls import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    CallEvent,
    CallStatus,
    EndReason,
    default_end_reason,
    next_status,
)


def test_the_happy_path() -> None:
    status = CallStatus.QUEUED
    for event, expected in [
        (CallEvent.RINGING, CallStatus.RINGING),
        (CallEvent.ANSWERED, CallStatus.IN_PROGRESS),
        (CallEvent.HANGUP, CallStatus.COMPLETED),
    ]:
        new = next_status(status, event)
        assert new == expected
        status = new


def test_answered_without_a_ringing_event_is_fine() -> None:
    assert next_status(CallStatus.QUEUED, CallEvent.ANSWERED) == CallStatus.IN_PROGRESS


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
@pytest.mark.parametrize("event", list(CallEvent))
def test_a_terminal_status_never_changes(terminal: CallStatus, event: CallEvent) -> None:
    assert next_status(terminal, event) is None


@pytest.mark.parametrize(
    ("current", "event"),
    [
        (CallStatus.RINGING, CallEvent.RINGING),
        (CallStatus.IN_PROGRESS, CallEvent.RINGING),
        (CallStatus.IN_PROGRESS, CallEvent.ANSWERED),
        (CallStatus.IN_PROGRESS, CallEvent.BUSY),
        (CallStatus.IN_PROGRESS, CallEvent.JOIN_TIMEOUT),
        (CallStatus.RINGING, CallEvent.MAX_DURATION),
    ],
)
def test_late_or_repeated_events_are_ignored(current: CallStatus, event: CallEvent) -> None:
    assert next_status(current, event) is None


@pytest.mark.parametrize(
    ("current", "event", "expected"),
    [
        (CallStatus.RINGING, CallEvent.BUSY, CallStatus.BUSY),
        (CallStatus.RINGING, CallEvent.NO_ANSWER, CallStatus.NO_ANSWER),
        (CallStatus.RINGING, CallEvent.JOIN_TIMEOUT, CallStatus.NO_ANSWER),
        (CallStatus.QUEUED, CallEvent.FAILED, CallStatus.FAILED),
        (CallStatus.RINGING, CallEvent.MACHINE_DETECTED, CallStatus.VOICEMAIL),
        (CallStatus.IN_PROGRESS, CallEvent.MACHINE_DETECTED, CallStatus.VOICEMAIL),
        (CallStatus.IN_PROGRESS, CallEvent.MAX_DURATION, CallStatus.COMPLETED),
        (CallStatus.RINGING, CallEvent.HANGUP, CallStatus.NO_ANSWER),
    ],
)
def test_outcomes(current: CallStatus, event: CallEvent, expected: CallStatus) -> None:
    assert next_status(current, event) == expected


def test_every_transition_leaves_an_active_status() -> None:
    from voxline.domain.calls import TRANSITIONS

    assert {current for current, _ in TRANSITIONS} <= ACTIVE_STATUSES


def test_end_reasons_follow_the_event() -> None:
    assert default_end_reason(CallEvent.MAX_DURATION) == EndReason.MAX_DURATION
    assert default_end_reason(CallEvent.JOIN_TIMEOUT) == EndReason.JOIN_TIMEOUT
    assert default_end_reason(CallEvent.ANSWERED) is None
