"""Twilio webhooks: signatures (with Twilio's SDK as a peer), callback parsing and TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
from twilio.request_validator import RequestValidator

from tests.emulators.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioEmulator
from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.errors import ValidationFailed
from voxline.telephony.base import PlacementRequest
from voxline.telephony.credentials import TwilioCredentials
from voxline.telephony.twilio.client import TwilioClient
from voxline.telephony.twilio.webhooks import (
    answer_url,
    events_url,
    media_url,
    parse_inbound,
    parse_status,
    rejection_twiml,
    sign,
    stream_twiml,
    verify,
)

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
PUBLIC = "https://voxline.example.com"

# -- signatures ---------------------------------------------------------------------------


def test_signature_matches_twilio_published_vectors() -> None:
    assert sign("12345", URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert sign("12345", URL, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_valid_signature_is_accepted() -> None:
    assert verify("12345", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


@pytest.mark.parametrize(
    ("token", "url", "params", "signature"),
    [
        ("54321", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("12345", URL.replace("foo=1", "foo=9"), PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("12345", URL.replace("https", "http"), PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("12345", URL, {**PARAMS, "Digits": "1235"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("12345", URL, {**PARAMS, "Extra": "x"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("12345", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
        ("12345", URL, PARAMS, ""),
        ("12345", URL, PARAMS, None),
        ("", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    ],
    ids=[
        "wrong-token",
        "tampered-query",
        "other-scheme",
        "tampered-param",
        "added-param",
        "truncated-header",
        "empty-header",
        "missing-header",
        "no-token",
    ],
)
def test_tampered_requests_are_rejected(
    token: str, url: str, params: dict[str, str], signature: str | None
) -> None:
    assert not verify(token, url, params, signature)


def test_url_with_or_without_its_port_is_accepted_as_the_sdk_accepts_it() -> None:
    signed_with_port = sign("12345", "https://mycompany.com:443/myapp.php?foo=1", PARAMS)
    signed_without = sign("12345", "https://mycompany.com/myapp.php?foo=1", PARAMS)
    signed_other_port = sign("12345", "https://mycompany.com:9443/myapp.php?foo=1", PARAMS)

    assert verify("12345", "https://mycompany.com/myapp.php?foo=1", PARAMS, signed_with_port)
    assert verify("12345", "https://mycompany.com:443/myapp.php?foo=1", PARAMS, signed_without)
    # Twilio sometimes signs a non-default port's URL without the port (RequestValidator
    # accepts that), but never with another port.
    assert verify("12345", "https://mycompany.com:8443/myapp.php?foo=1", PARAMS, signed_without)
    assert not verify(
        "12345", "https://mycompany.com:8443/myapp.php?foo=1", PARAMS, signed_other_port
    )


@pytest.mark.parametrize(
    "url",
    [
        URL,
        "https://voxline.example.com/webhooks/twilio/events?call_id=c%C3%A9-1",
        "http://127.0.0.1:8000/webhooks/twilio/answer",
        "wss://voxline.example.com/media/twilio",
    ],
)
def test_signatures_agree_with_twilio_sdk(url: str) -> None:
    sdk = RequestValidator(AUTH_TOKEN)
    params = {**PARAMS, "Empty": "", "Unicode": "José ☎"}

    ours = sign(AUTH_TOKEN, url, params)

    assert ours == sdk.compute_signature(url, params)
    assert sdk.validate(url, params, ours)
    assert verify(AUTH_TOKEN, url, params, sdk.compute_signature(url, params))


async def test_emulator_callbacks_verify_with_our_code_and_the_sdk(
    twilio: TwilioEmulator,
) -> None:
    client = TwilioClient(public_base_url=PUBLIC, base_url=twilio.base_url)
    try:
        sid = await client.place_call(_placement())
    finally:
        await client.aclose()
    sdk = RequestValidator(AUTH_TOKEN)

    callbacks = twilio.callbacks(sid, "voicemail")

    assert callbacks
    for callback in callbacks:
        signature = callback.headers["X-Twilio-Signature"]
        assert verify(AUTH_TOKEN, callback.url, callback.params, signature)
        assert sdk.validate(callback.url, dict(callback.params), signature)
        assert not verify("0" * 32, callback.url, callback.params, signature)


# -- status callbacks ---------------------------------------------------------------------


def _placement() -> PlacementRequest:
    return PlacementRequest(
        call_id="call-9",
        org_id="org-1",
        agent_id="agent-1",
        to_number="+14155550100",
        from_number="+14155550199",
        provider_type="twilio",
        join_timeout_seconds=30,
        credentials=TwilioCredentials(ACCOUNT_SID, AUTH_TOKEN),
    )


async def _scenario_events(twilio: TwilioEmulator, scenario: str) -> list[tuple[object, ...]]:
    client = TwilioClient(public_base_url=PUBLIC, base_url=twilio.base_url)
    try:
        sid = await client.place_call(_placement())
    finally:
        await client.aclose()
    out: list[tuple[object, ...]] = []
    for callback in twilio.callbacks(sid, scenario):
        assert callback.url.startswith(f"{PUBLIC}/webhooks/twilio/events?call_id=call-9")
        for event in parse_status("call-9", dict(callback.params)):
            assert event.provider_call_id == sid and event.call_id == "call-9"
            out.append((event.event, event.end_reason, event.answered_by))
    return out


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "completed",
            [
                (CallEvent.RINGING, None, None),
                (CallEvent.ANSWERED, None, None),
                (CallEvent.HANGUP, EndReason.CONTACT_HANGUP, None),
            ],
        ),
        (
            "voicemail",
            [
                (CallEvent.RINGING, None, None),
                (CallEvent.ANSWERED, None, None),
                (CallEvent.MACHINE_DETECTED, EndReason.VOICEMAIL, AnsweredBy.MACHINE),
                (CallEvent.HANGUP, EndReason.CONTACT_HANGUP, None),
            ],
        ),
        ("busy", [(CallEvent.RINGING, None, None), (CallEvent.BUSY, EndReason.BUSY, None)]),
        (
            "no-answer",
            [(CallEvent.RINGING, None, None), (CallEvent.NO_ANSWER, EndReason.NO_ANSWER, None)],
        ),
        ("failed", [(CallEvent.FAILED, EndReason.PROVIDER_ERROR, None)]),
        (
            "canceled",
            [(CallEvent.RINGING, None, None), (CallEvent.HANGUP, EndReason.CANCELED, None)],
        ),
    ],
)
async def test_scenario_callbacks_become_neutral_events(
    twilio: TwilioEmulator, scenario: str, expected: list[tuple[object, ...]]
) -> None:
    assert await _scenario_events(twilio, scenario) == expected


def test_final_callback_keeps_cause_and_details_without_phone_numbers() -> None:
    params = {
        "CallSid": "CA" + "1" * 32,
        "CallStatus": "busy",
        "SipResponseCode": "486",
        "SequenceNumber": "3",
        "Timestamp": "Thu, 12 Feb 2026 11:48:25 +0000",
        "From": "+14155550199",
        "To": "+14155550100",
    }

    [event] = parse_status("call-1", params)

    assert event.cause == "486"
    assert event.at == datetime(2026, 2, 12, 11, 48, 25, tzinfo=UTC)
    assert event.details == {
        "provider_status": "busy",
        "sequence_number": "3",
        "sip_response_code": "486",
    }


@pytest.mark.parametrize(
    ("answered_by", "event", "who"),
    [
        ("human", CallEvent.ANSWERED, AnsweredBy.HUMAN),
        ("unknown", CallEvent.ANSWERED, AnsweredBy.UNKNOWN),
        ("machine_start", CallEvent.MACHINE_DETECTED, AnsweredBy.MACHINE),
        ("fax", CallEvent.MACHINE_DETECTED, AnsweredBy.MACHINE),
    ],
)
def test_amd_callback_reports_who_answered(
    answered_by: str, event: CallEvent, who: AnsweredBy
) -> None:
    params = {"CallSid": "CA" + "2" * 32, "AnsweredBy": answered_by}

    [parsed] = parse_status("call-1", params)

    assert (parsed.event, parsed.answered_by) == (event, who)


@pytest.mark.parametrize("status", ["initiated", "queued", "something-new", ""])
def test_statuses_that_change_nothing_yield_no_event(status: str) -> None:
    assert parse_status("call-1", {"CallSid": "CA" + "3" * 32, "CallStatus": status}) == []


def test_malformed_timestamp_falls_back_to_arrival_time() -> None:
    before = datetime.now(UTC)
    [event] = parse_status("c", {"CallSid": "CA1", "CallStatus": "ringing", "Timestamp": "bad"})
    assert event.at >= before


# -- inbound and TwiML --------------------------------------------------------------------


def test_inbound_voice_request_is_parsed() -> None:
    params = {
        "CallSid": "CA" + "4" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+14155550111",
        "To": "+14155550122",
        "CallStatus": "ringing",
        "Direction": "inbound",
    }

    call = parse_inbound(params)

    assert (call.provider_call_id, call.from_number, call.to_number, call.account_sid) == (
        "CA" + "4" * 32,
        "+14155550111",
        "+14155550122",
        ACCOUNT_SID,
    )


def test_inbound_request_without_call_sid_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        parse_inbound({"From": "+14155550111", "To": "+14155550122", "AccountSid": ACCOUNT_SID})


def test_voxline_urls() -> None:
    assert events_url(PUBLIC + "/", "a b") == f"{PUBLIC}/webhooks/twilio/events?call_id=a+b"
    assert answer_url(PUBLIC) == f"{PUBLIC}/webhooks/twilio/answer"
    assert answer_url(PUBLIC, "c1") == f"{PUBLIC}/webhooks/twilio/answer?call_id=c1"
    assert media_url("https://h.example:8443/base") == "wss://h.example:8443/base/media/twilio"
    assert media_url("http://127.0.0.1:9000") == "ws://127.0.0.1:9000/media/twilio"


def test_answer_twiml_escapes_the_call_id_and_omits_it_when_unknown() -> None:
    root = ET.fromstring(stream_twiml(PUBLIC, 'a"<&>b'))
    parameter = root.find("./Connect/Stream/Parameter")
    assert parameter is not None and parameter.get("value") == 'a"<&>b'

    inbound = ET.fromstring(stream_twiml(PUBLIC, None))
    assert inbound.find("./Connect/Stream/Parameter") is None


def test_answer_twiml_carries_the_media_token_as_a_stream_parameter() -> None:
    root = ET.fromstring(stream_twiml(PUBLIC, "c1", 'v1.9."<&>'))
    parameters = {p.get("name"): p.get("value") for p in root.iter("Parameter")}
    assert parameters == {"call_id": "c1", "token": 'v1.9."<&>'}
    stream = root.find("./Connect/Stream")
    assert stream is not None and "?" not in (stream.get("url") or "")  # Twilio allows none


def test_rejection_twiml_says_goodbye_and_hangs_up() -> None:
    root = ET.fromstring(rejection_twiml())

    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "Goodbye" in (root.findtext("Say") or "")
