"""Telnyx webhooks: Ed25519 signatures, event parsing and the inbound command bodies."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tests.emulators.telnyx import SignedWebhook, TelnyxEmulator
from voxline.domain.calls import AnsweredBy, CallDirection, CallEvent, EndReason
from voxline.telephony.telnyx import webhooks
from voxline.telephony.telnyx.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InboundCall,
    parse_event,
    parse_inbound,
    verify,
)

BASE = "https://voxline.example.com"
NOW = 1_767_000_000


def dialed(emulator: TelnyxEmulator, call_id: str = "call-1", **extra: object) -> str:
    """A call as the adapter would have dialed it, created straight in the emulator."""
    call = emulator.add_call(
        "outgoing",
        {
            "from": "+13125550100",
            "to": "+14155550123",
            "webhook_url": webhooks.events_url(BASE, call_id),
            "client_state": webhooks.encode_client_state(call_id),
            **extra,
        },
    )
    return call.call_control_id


def check(hook: SignedWebhook, public_key: str, now: float = NOW) -> bool:
    return verify(
        hook.body,
        hook.headers[SIGNATURE_HEADER],
        hook.headers[TIMESTAMP_HEADER],
        public_key,
        now=now,
    )


# -- signatures ------------------------------------------------------------------------


def test_a_webhook_signed_by_telnyx_is_accepted() -> None:
    emulator = TelnyxEmulator()
    [hook, *_] = emulator.scenario(dialed(emulator), "busy", now=NOW)

    assert check(hook, emulator.public_key)


def test_a_signature_made_independently_with_ed25519_is_accepted() -> None:
    # Sign as Telnyx's SDKs define it, without the emulator: "{timestamp}|{raw body}".
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    body = b'{"data":{"event_type":"call.answered"}}'
    signature = base64.b64encode(key.sign(f"{NOW}|".encode() + body)).decode()

    assert verify(body, signature, str(NOW), public, now=NOW)
    assert not verify(body, signature, str(NOW + 1), public, now=NOW)


def test_the_emulator_signature_checks_out_with_a_plain_ed25519_verify() -> None:
    emulator = TelnyxEmulator()
    [hook, *_] = emulator.scenario(dialed(emulator), "busy", now=NOW)

    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(emulator.public_key))
    message = hook.headers[TIMESTAMP_HEADER].encode() + b"|" + hook.body
    key.verify(base64.b64decode(hook.headers[SIGNATURE_HEADER]), message)  # raises if wrong


def test_a_tampered_body_is_rejected() -> None:
    emulator = TelnyxEmulator()
    [hook, *_] = emulator.scenario(dialed(emulator), "busy", now=NOW)
    tampered = SignedWebhook(hook.url, hook.headers, hook.body.replace(b"outgoing", b"incoming"))

    assert tampered.body != hook.body
    assert not check(tampered, emulator.public_key)


def test_a_tampered_timestamp_or_signature_header_is_rejected() -> None:
    emulator = TelnyxEmulator()
    [hook, *_] = emulator.scenario(dialed(emulator), "busy", now=NOW)
    signature = base64.b64decode(hook.headers[SIGNATURE_HEADER])
    flipped = base64.b64encode(bytes([signature[0] ^ 1]) + signature[1:]).decode()

    assert not verify(
        hook.body, hook.headers[SIGNATURE_HEADER], str(NOW - 1), emulator.public_key, now=NOW
    )
    assert not verify(hook.body, flipped, str(NOW), emulator.public_key, now=NOW)
    assert not verify(hook.body, "not base64!", str(NOW), emulator.public_key, now=NOW)
    assert not verify(hook.body, None, str(NOW), emulator.public_key, now=NOW)
    assert not verify(hook.body, hook.headers[SIGNATURE_HEADER], None, emulator.public_key)


def test_another_accounts_key_is_rejected() -> None:
    emulator, other = TelnyxEmulator(), TelnyxEmulator()
    [hook, *_] = emulator.scenario(dialed(emulator), "busy", now=NOW)

    assert not check(hook, other.public_key)
    assert not check(hook, "not-a-key")


@pytest.mark.parametrize("skew", [301, -301, 3600])
def test_a_timestamp_outside_five_minutes_is_rejected(skew: int) -> None:
    emulator = TelnyxEmulator()
    [hook, *_] = emulator.scenario(dialed(emulator), "busy", now=NOW)

    assert check(hook, emulator.public_key, now=NOW + 300)
    assert not check(hook, emulator.public_key, now=NOW + skew)


def test_verify_uses_the_clock_by_default() -> None:
    emulator = TelnyxEmulator()
    [fresh, *_] = emulator.scenario(dialed(emulator), "busy")
    [stale, *_] = emulator.scenario(dialed(emulator), "busy", now=int(time.time()) - 600)
    headers = (SIGNATURE_HEADER, TIMESTAMP_HEADER)

    assert verify(fresh.body, *(fresh.headers[h] for h in headers), emulator.public_key)
    assert not verify(stale.body, *(stale.headers[h] for h in headers), emulator.public_key)


# -- events ----------------------------------------------------------------------------


def events(emulator: TelnyxEmulator, scenario: str, **extra: object) -> list:
    call_control_id = dialed(emulator, **extra)
    hooks = emulator.scenario(call_control_id, scenario, now=NOW)
    return [parse_event(hook.body, call_id="call-1") for hook in hooks]


def test_a_completed_call_rings_answers_and_ends_with_the_contact_hanging_up() -> None:
    ringing, answered, human, hangup = events(TelnyxEmulator(), "completed")

    assert [e.event for e in (ringing, answered, human, hangup)] == [
        CallEvent.RINGING,
        CallEvent.ANSWERED,
        CallEvent.ANSWERED,
        CallEvent.HANGUP,
    ]
    assert human.answered_by is AnsweredBy.HUMAN
    assert hangup.end_reason is EndReason.CONTACT_HANGUP
    assert hangup.details["sip_hangup_cause"] == "200"
    assert all(
        e.call_id == "call-1" and e.provider_call_id.startswith("v3:")
        for e in events(TelnyxEmulator(), "completed")
    )
    assert answered.at == datetime.fromtimestamp(NOW + 2, UTC)


def test_busy_no_answer_and_failed_calls_map_to_their_events() -> None:
    [_, busy] = events(TelnyxEmulator(), "busy")
    [_, no_answer] = events(TelnyxEmulator(), "no-answer")
    [_, failed] = events(TelnyxEmulator(), "failed")

    assert (busy.event, busy.end_reason, busy.cause) == (
        CallEvent.BUSY,
        EndReason.BUSY,
        "user_busy",
    )
    assert (no_answer.event, no_answer.end_reason) == (CallEvent.NO_ANSWER, EndReason.NO_ANSWER)
    assert (failed.event, failed.end_reason) == (CallEvent.FAILED, EndReason.PROVIDER_ERROR)


def test_a_voicemail_is_reported_as_machine_detected() -> None:
    _, answered, machine, hangup = events(TelnyxEmulator(), "voicemail")

    assert answered.event is CallEvent.ANSWERED
    assert machine.event is CallEvent.MACHINE_DETECTED
    assert machine.answered_by is AnsweredBy.MACHINE
    assert machine.end_reason is EndReason.VOICEMAIL
    assert hangup.end_reason is EndReason.AGENT_HANGUP


def test_a_saved_recording_is_no_status_event_but_yields_its_links() -> None:
    emulator = TelnyxEmulator()
    hooks = emulator.scenario(dialed(emulator, record="record-from-answer"), "completed", now=NOW)

    assert parse_event(hooks[-1].body, call_id="call-1") is None
    assert webhooks.recording_urls(hooks[-1].body)["mp3"].endswith(".mp3")
    assert webhooks.recording_urls(hooks[0].body) == {}


def hangup_body(cause: str, source: str = "unknown", **payload: object) -> dict:
    return {
        "data": {
            "event_type": "call.hangup",
            "occurred_at": "2025-09-02T09:17:43.120Z",
            "payload": {
                "call_control_id": "v3:x",
                "hangup_cause": cause,
                "hangup_source": source,
                **payload,
            },
        }
    }


@pytest.mark.parametrize(
    ("cause", "event", "reason"),
    [
        ("originator_cancel", CallEvent.HANGUP, EndReason.CANCELED),
        ("time_limit", CallEvent.HANGUP, EndReason.MAX_DURATION),
        ("call_rejected", CallEvent.FAILED, EndReason.REJECTED),
        ("no_answer", CallEvent.NO_ANSWER, EndReason.NO_ANSWER),
        ("unspecified", CallEvent.HANGUP, None),
    ],
)
def test_hangup_causes_map_to_end_reasons(
    cause: str, event: CallEvent, reason: EndReason | None
) -> None:
    parsed = parse_event(hangup_body(cause), call_id="c")

    assert (parsed.event, parsed.end_reason) == (event, reason)
    assert parsed.at == datetime(2025, 9, 2, 9, 17, 43, 120000, UTC)


def test_who_hung_up_depends_on_the_call_direction() -> None:
    body = hangup_body("normal_clearing", source="caller")

    outbound = parse_event(body, call_id="c")
    inbound = parse_event(body, call_id="c", direction=CallDirection.INBOUND)

    assert outbound.end_reason is EndReason.AGENT_HANGUP
    assert inbound.end_reason is EndReason.CONTACT_HANGUP


@pytest.mark.parametrize(
    ("result", "event", "answered_by"),
    [
        ("machine", CallEvent.MACHINE_DETECTED, AnsweredBy.MACHINE),
        ("human_business", CallEvent.ANSWERED, AnsweredBy.HUMAN),
        ("silence", CallEvent.ANSWERED, AnsweredBy.UNKNOWN),
    ],
)
def test_premium_machine_detection_results(
    result: str, event: CallEvent, answered_by: AnsweredBy
) -> None:
    body = {
        "data": {
            "event_type": "call.machine.premium.detection.ended",
            "payload": {"result": result},
        }
    }

    parsed = parse_event(body, call_id="c")

    assert (parsed.event, parsed.answered_by) == (event, answered_by)


def test_the_call_id_is_read_back_from_client_state_without_a_query() -> None:
    emulator = TelnyxEmulator()
    [hook, *_] = emulator.scenario(dialed(emulator, call_id="call-77"), "busy", now=NOW)

    assert parse_event(hook.body).call_id == "call-77"
    with pytest.raises(ValueError, match="no Voxline call"):
        parse_event(hangup_body("user_busy"))


def test_underscore_event_types_and_unknown_events() -> None:
    answered = {"data": {"event_type": "call_answered", "payload": {}}}
    streaming = {"data": {"event_type": "streaming.started", "payload": {}}}

    assert parse_event(answered, call_id="c").event is CallEvent.ANSWERED
    assert parse_event(streaming, call_id="c") is None


@pytest.mark.parametrize(
    "body", [b"[]", b'{"data": {}}', b'{"data": {"event_type": "x"}}', b"not json"]
)
def test_a_body_that_is_not_a_telnyx_webhook_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_event(body, call_id="c")


def test_an_inbound_call_is_announced_by_call_initiated() -> None:
    emulator = TelnyxEmulator()
    call, hook = emulator.inbound(
        "+14155550123", "+13125550100", f"{BASE}/webhooks/telnyx/events", now=NOW
    )

    assert check(hook, emulator.public_key)
    assert parse_inbound(hook.body) == InboundCall(
        provider_call_id=call.call_control_id,
        from_number="+14155550123",
        to_number="+13125550100",
        call_session_id=call.call_session_id,
        connection_id=emulator.connection_id,
    )
    assert parse_event(hook.body, call_id="c") is None


def test_an_outbound_call_initiated_is_no_inbound_call() -> None:
    emulator = TelnyxEmulator()
    [initiated, *_] = emulator.scenario(dialed(emulator), "busy", now=NOW)

    assert parse_inbound(initiated.body) is None
    with pytest.raises(ValueError):
        parse_inbound(
            {"data": {"event_type": "call.initiated", "payload": {"direction": "incoming"}}}
        )


async def test_scenario_webhooks_can_be_delivered_to_a_receiver() -> None:
    emulator = TelnyxEmulator()
    hooks = emulator.scenario(dialed(emulator), "voicemail")
    received: list[CallEvent] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        body = request.read()
        headers = request.headers
        if not verify(
            body, headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER), emulator.public_key
        ):
            return httpx.Response(403)
        event = parse_event(body, call_id=request.url.params["call_id"])
        received.append(event.event)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        statuses = await TelnyxEmulator.deliver(hooks, client)

    assert statuses == [200] * 4
    assert received == [
        CallEvent.RINGING,
        CallEvent.ANSWERED,
        CallEvent.MACHINE_DETECTED,
        CallEvent.HANGUP,
    ]


# -- commands --------------------------------------------------------------------------


def test_the_answer_command_streams_both_ways_and_routes_events_to_voxline() -> None:
    body = webhooks.answer_command(BASE, "call-9")

    assert body["stream_url"] == "wss://voxline.example.com/media/telnyx?call_id=call-9"
    # AnswerCall has neither field (Dial and StartStreaming do).
    assert "stream_auth_token" not in body
    assert "stream_bidirectional_sampling_rate" not in body
    assert (body["stream_bidirectional_mode"], body["stream_bidirectional_codec"]) == (
        "rtp",
        "PCMU",
    )
    assert body["webhook_url"] == f"{BASE}/webhooks/telnyx/events?call_id=call-9"
    assert webhooks.decode_client_state(body["client_state"]) == "call-9"
    assert json.loads(json.dumps(body)) == body


def test_an_answer_without_a_stream_only_routes_events() -> None:
    body = webhooks.answer_command(BASE, "call-9", stream=False)

    assert not any(name.startswith("stream_") for name in body)
    assert body["webhook_url"] == f"{BASE}/webhooks/telnyx/events?call_id=call-9"


def test_streaming_start_and_reject_commands() -> None:
    start = webhooks.streaming_start_command(BASE, "call-9")

    assert start["stream_url"].startswith("wss://voxline.example.com/media/telnyx")
    assert "stream_auth_token" not in start
    assert webhooks.reject_command() == {"cause": "CALL_REJECTED"}


def test_call_ids_are_url_encoded_in_callback_urls() -> None:
    assert webhooks.events_url(BASE + "/", "a&b") == f"{BASE}/webhooks/telnyx/events?call_id=a%26b"
    assert webhooks.decode_client_state("%%%") is None


def test_a_client_state_that_is_not_ascii_is_not_ours() -> None:
    from voxline.telephony.telnyx.webhooks import decode_client_state, encode_client_state

    assert decode_client_state("\U000782b4abc") is None
    assert decode_client_state("not base64!") is None
    assert decode_client_state(encode_client_state("call-1")) == "call-1"
