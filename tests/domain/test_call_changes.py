"""Applying an event to a call's state: the pure step behind every status change."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from voxline.domain.call_changes import (
    MIN_SCALED_JOIN_SECONDS,
    CallChange,
    CallOccurrence,
    CallState,
    LeaseChange,
    apply,
    join_wait_seconds,
    learned_provider_call_id,
)
from voxline.domain.calls import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    AnsweredBy,
    CallEvent,
    CallStatus,
    EndReason,
    default_end_reason,
)
from voxline.domain.lines import SANDBOX, is_simulated, lease_follows_media, time_scale

CREATED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
NOW = CREATED + timedelta(minutes=5)
AT = CREATED + timedelta(minutes=2)


def _state(status: CallStatus, **changes: object) -> CallState:
    base = CallState(
        status=status,
        created_at=CREATED,
        join_timeout_seconds=30,
        max_duration_seconds=600,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def _as_state(before: CallState, change: CallChange) -> CallState:
    return dataclasses.replace(
        before,
        status=change.status,
        started_at=change.started_at or before.started_at,
        provider_call_id=change.provider_call_id or before.provider_call_id,
        context=change.context if change.context is not None else before.context,
    )


ALL_PAIRS = [(status, event) for status in CallStatus for event in CallEvent]


@pytest.mark.parametrize(("status", "event"), ALL_PAIRS)
def test_every_pair_follows_the_transition_table(status: CallStatus, event: CallEvent) -> None:
    change = apply(_state(status), CallOccurrence(event, AT), NOW)
    expected = TRANSITIONS.get((status, event))
    if expected is None:
        assert change is None
    else:
        assert change is not None
        assert change.status is expected
        assert change.updated_at == NOW


@pytest.mark.parametrize(("status", "event"), ALL_PAIRS)
def test_applying_the_same_event_twice_changes_nothing_the_second_time(
    status: CallStatus, event: CallEvent
) -> None:
    state = _state(status)
    occurrence = CallOccurrence(event, AT, provider_call_id="PC1")
    first = apply(state, occurrence, NOW)
    if first is None:
        return
    assert apply(_as_state(state, first), occurrence, NOW + timedelta(seconds=1)) is None


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATUSES))
@pytest.mark.parametrize("event", list(CallEvent))
def test_a_terminal_status_is_final(terminal: CallStatus, event: CallEvent) -> None:
    occurrence = CallOccurrence(event, AT, provider_call_id="PC1", cause="x", message="y")
    assert apply(_state(terminal), occurrence, NOW) is None


def test_ringing_sets_the_join_deadline_from_the_reported_time() -> None:
    change = apply(_state(CallStatus.QUEUED), CallOccurrence(CallEvent.RINGING, AT), NOW)
    assert change == CallChange(CallStatus.RINGING, NOW, AT + timedelta(seconds=30))


def test_a_sped_up_line_still_waits_a_few_real_seconds_for_the_answer() -> None:
    # 30 s at a tenth of real speed would be 3 s: under a loaded machine's stalls.
    fast = _state(CallStatus.QUEUED, time_scale=0.1)
    change = apply(fast, CallOccurrence(CallEvent.RINGING, AT), NOW)
    assert change is not None
    assert change.deadline_at == AT + timedelta(seconds=MIN_SCALED_JOIN_SECONDS)
    # Scaled timeouts past the floor are kept, and the floor never lengthens a timeout.
    assert join_wait_seconds(120, 0.1) == 12
    assert join_wait_seconds(2, 0.1) == 2
    # A line at real speed keeps its timeout exactly, short or long.
    assert join_wait_seconds(3, 1.0) == 3
    assert join_wait_seconds(30, 1.0) == 30


def test_the_answer_starts_the_call_and_sets_the_duration_deadline() -> None:
    change = apply(_state(CallStatus.RINGING), CallOccurrence(CallEvent.ANSWERED, AT), NOW)
    assert change is not None
    assert change.started_at == AT
    assert change.deadline_at == AT + timedelta(seconds=600)
    assert change.answered_by is AnsweredBy.HUMAN
    assert change.lease is LeaseChange.KEEP
    assert change.ended_at is None and change.context is None and change.end_reason is None


def test_the_answer_keeps_what_answered_when_the_provider_says() -> None:
    occurrence = CallOccurrence(CallEvent.ANSWERED, AT, answered_by=AnsweredBy.UNKNOWN)
    change = apply(_state(CallStatus.QUEUED), occurrence, NOW)
    assert change is not None and change.answered_by is AnsweredBy.UNKNOWN


def test_an_answered_call_hands_its_lease_to_the_media_host_when_it_follows_the_media() -> None:
    state = _state(CallStatus.RINGING, lease_follows_media=True)
    change = apply(state, CallOccurrence(CallEvent.ANSWERED, AT), NOW)
    assert change is not None and change.lease is LeaseChange.HAND_OVER


@pytest.mark.parametrize("follows", [True, False])
def test_an_ended_call_lease_no_longer_expires_whoever_holds_it(follows: bool) -> None:
    state = _state(CallStatus.IN_PROGRESS, lease_follows_media=follows, started_at=AT)
    change = apply(state, CallOccurrence(CallEvent.HANGUP, NOW), NOW)
    assert change is not None and change.lease is LeaseChange.EXPIRE


@pytest.mark.parametrize(
    ("status", "event", "expected_deadline"),
    [
        (CallStatus.QUEUED, CallEvent.RINGING, timedelta(seconds=120 * 0.1)),
        (CallStatus.RINGING, CallEvent.ANSWERED, timedelta(seconds=600 * 0.1)),
    ],
)
def test_deadlines_run_on_the_clock_of_the_line(
    status: CallStatus, event: CallEvent, expected_deadline: timedelta
) -> None:
    state = _state(status, time_scale=0.1, join_timeout_seconds=120)
    change = apply(state, CallOccurrence(event, AT), NOW)
    assert change is not None and change.deadline_at == AT + expected_deadline


def test_a_time_before_the_call_existed_becomes_its_creation() -> None:
    occurrence = CallOccurrence(CallEvent.ANSWERED, CREATED - timedelta(days=900))
    change = apply(_state(CallStatus.RINGING), occurrence, NOW)
    assert change is not None
    assert change.started_at == CREATED
    assert change.deadline_at == CREATED + timedelta(seconds=600)


def test_a_time_in_the_future_becomes_now() -> None:
    occurrence = CallOccurrence(CallEvent.HANGUP, NOW + timedelta(days=30))
    change = apply(_state(CallStatus.IN_PROGRESS, started_at=AT), occurrence, NOW)
    assert change is not None and change.ended_at == NOW


def test_naive_times_are_utc() -> None:
    occurrence = CallOccurrence(CallEvent.ANSWERED, AT.replace(tzinfo=None))
    change = apply(_state(CallStatus.RINGING), occurrence, NOW)
    assert change is not None and change.started_at == AT


@pytest.mark.parametrize(
    ("status", "event"), [pair for pair, new in TRANSITIONS.items() if new.is_terminal]
)
def test_an_ending_records_when_and_why_and_clears_the_deadline(
    status: CallStatus, event: CallEvent
) -> None:
    change = apply(_state(status, started_at=AT), CallOccurrence(event, AT), NOW)
    assert change is not None
    assert change.ends_call
    assert change.ended_at == AT
    assert change.deadline_at is None
    assert change.end_reason is default_end_reason(event)
    assert change.context is not None


def test_the_reported_end_reason_wins_over_the_default() -> None:
    occurrence = CallOccurrence(CallEvent.HANGUP, AT, end_reason=EndReason.AGENT_HANGUP)
    change = apply(_state(CallStatus.IN_PROGRESS, started_at=AT), occurrence, NOW)
    assert change is not None and change.end_reason is EndReason.AGENT_HANGUP


def test_an_ending_keeps_answered_by_unless_the_event_says() -> None:
    state = _state(CallStatus.RINGING)
    silent = apply(state, CallOccurrence(CallEvent.BUSY, AT), NOW)
    told = apply(
        state, CallOccurrence(CallEvent.MACHINE_DETECTED, AT, answered_by=AnsweredBy.MACHINE), NOW
    )
    assert silent is not None and silent.answered_by is None
    assert told is not None and told.answered_by is AnsweredBy.MACHINE


def test_a_failure_records_its_message_cause_and_code_and_keeps_the_context() -> None:
    state = _state(CallStatus.RINGING, context={"customer": "42"})
    occurrence = CallOccurrence(
        CallEvent.FAILED, AT, cause="rejected", message="number blocked", provider_code="21610"
    )
    change = apply(state, occurrence, NOW)
    assert change is not None
    assert change.status is CallStatus.FAILED
    assert change.context == {
        "customer": "42",
        "provider_cause": "rejected",
        "last_error": "number blocked",
        "provider_code": "21610",
    }
    assert state.context == {"customer": "42"}


def test_a_failure_without_a_message_is_described_by_its_cause_or_generically() -> None:
    by_cause = apply(
        _state(CallStatus.QUEUED), CallOccurrence(CallEvent.FAILED, AT, cause="busy-ish"), NOW
    )
    generic = apply(_state(CallStatus.QUEUED), CallOccurrence(CallEvent.FAILED, AT), NOW)
    assert by_cause is not None and by_cause.context is not None
    assert by_cause.context["last_error"] == "busy-ish"
    assert generic is not None and generic.context == {"last_error": "call failed"}


def test_a_failure_during_the_conversation_completes_the_call_with_the_error() -> None:
    occurrence = CallOccurrence(CallEvent.FAILED, AT, message="media lost")
    change = apply(_state(CallStatus.IN_PROGRESS, started_at=AT), occurrence, NOW)
    assert change is not None
    assert change.status is CallStatus.COMPLETED
    assert change.context == {"last_error": "media lost"}
    assert change.end_reason is EndReason.PROVIDER_ERROR


def test_an_ending_that_is_no_failure_records_only_the_cause() -> None:
    occurrence = CallOccurrence(CallEvent.BUSY, AT, cause="user-busy", message="ignored")
    change = apply(_state(CallStatus.RINGING), occurrence, NOW)
    assert change is not None and change.context == {"provider_cause": "user-busy"}


def test_a_voicemail_never_answered_starts_when_the_machine_answered() -> None:
    answered = CREATED + timedelta(seconds=40)
    occurrence = CallOccurrence(CallEvent.MACHINE_DETECTED, AT, answered_at=answered)
    change = apply(_state(CallStatus.RINGING), occurrence, NOW)
    assert change is not None
    assert change.status is CallStatus.VOICEMAIL
    assert change.started_at == answered


def test_a_voicemail_answer_time_is_clamped_between_creation_and_the_event() -> None:
    state = _state(CallStatus.RINGING)
    early = CallOccurrence(CallEvent.MACHINE_DETECTED, AT, answered_at=CREATED - timedelta(days=9))
    late = CallOccurrence(CallEvent.MACHINE_DETECTED, AT, answered_at=AT + timedelta(hours=1))
    unknown = CallOccurrence(CallEvent.MACHINE_DETECTED, AT)
    assert (change := apply(state, early, NOW)) is not None and change.started_at == CREATED
    assert (change := apply(state, late, NOW)) is not None and change.started_at == AT
    assert (change := apply(state, unknown, NOW)) is not None and change.started_at == AT


def test_a_voicemail_detected_after_the_answer_keeps_its_start() -> None:
    occurrence = CallOccurrence(CallEvent.MACHINE_DETECTED, AT, answered_at=CREATED)
    change = apply(_state(CallStatus.IN_PROGRESS, started_at=AT), occurrence, NOW)
    assert change is not None and change.started_at is None


def test_the_provider_call_id_is_learned_once() -> None:
    occurrence = CallOccurrence(CallEvent.RINGING, AT, provider_call_id="PC2")
    first = apply(_state(CallStatus.QUEUED), occurrence, NOW)
    known = apply(_state(CallStatus.QUEUED, provider_call_id="PC1"), occurrence, NOW)
    assert first is not None and first.provider_call_id == "PC2"
    assert known is not None and known.provider_call_id is None


def test_an_ignored_event_may_still_tell_the_provider_call_id() -> None:
    occurrence = CallOccurrence(CallEvent.RINGING, AT, provider_call_id="PC2")
    assert apply(_state(CallStatus.RINGING), occurrence, NOW) is None
    assert learned_provider_call_id(_state(CallStatus.RINGING), occurrence) == "PC2"
    known = _state(CallStatus.RINGING, provider_call_id="PC1")
    assert learned_provider_call_id(known, occurrence) is None


def test_the_sandbox_is_the_one_simulated_line() -> None:
    assert is_simulated(SANDBOX)
    assert not is_simulated("twilio")
    assert not is_simulated(None)
    assert time_scale(SANDBOX, 0.05) == 0.05
    assert time_scale("telnyx", 0.05) == 1.0
    assert not lease_follows_media(SANDBOX)
    assert lease_follows_media("plivo")


def test_a_transfer_completes_the_call_with_where_it_went() -> None:
    state = _state(CallStatus.IN_PROGRESS, started_at=CREATED, context={"dtmf": "1"})
    change = apply(
        state, CallOccurrence(CallEvent.TRANSFERRED, AT, transfer_to="+14155550142"), NOW
    )

    assert change is not None
    assert change.status is CallStatus.COMPLETED
    assert change.end_reason is EndReason.TRANSFERRED
    assert change.context == {
        "dtmf": "1",
        "transfer": {"to": "+14155550142", "at": AT.isoformat(), "status": "completed"},
    }
    # Only a call in progress can be transferred.
    assert apply(_state(CallStatus.RINGING), CallOccurrence(CallEvent.TRANSFERRED, AT), NOW) is None


def test_a_left_voicemail_ends_the_call_as_a_voicemail() -> None:
    state = _state(CallStatus.IN_PROGRESS, started_at=CREATED)
    occurrence = CallOccurrence(CallEvent.VOICEMAIL_LEFT, AT, answered_by=AnsweredBy.MACHINE)
    change = apply(state, occurrence, NOW)

    assert change is not None
    assert (change.status, change.end_reason) == (CallStatus.VOICEMAIL, EndReason.VOICEMAIL)
    assert change.answered_by is AnsweredBy.MACHINE


def test_a_machine_does_not_end_the_call_of_an_agent_that_leaves_messages() -> None:
    machine = CallOccurrence(
        CallEvent.MACHINE_DETECTED,
        AT,
        answered_by=AnsweredBy.MACHINE,
        end_reason=EndReason.VOICEMAIL,
    )
    talking = _state(CallStatus.IN_PROGRESS, started_at=CREATED, leaves_voicemail=True)
    ringing = _state(CallStatus.RINGING, leaves_voicemail=True)

    assert apply(talking, machine, NOW) is None  # the agent's session ends it itself
    answered = apply(ringing, machine, NOW)
    assert answered is not None
    assert answered.status is CallStatus.IN_PROGRESS
    assert answered.answered_by is AnsweredBy.MACHINE
    # Without the voicemail drop a machine ends the call, as before.
    ended = apply(_state(CallStatus.IN_PROGRESS, started_at=CREATED), machine, NOW)
    assert ended is not None and ended.status is CallStatus.VOICEMAIL
