"""Our Twilio adapter against twilio-python: each REST operation sends the request the
official SDK sends for it, our TwiML equals the SDK's ``VoiceResponse``, and our signature
check accepts what the SDK's ``RequestValidator`` accepts."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator, add_port, remove_port
from twilio.rest import Client
from twilio.twiml.voice_response import Connect, VoiceResponse

from tests.emulators.recorder import RecordingServer
from tests.telephony.agreement import (
    Shape,
    differences,
    only_request,
    route_session,
    sdk_call,
    tree_differences,
)
from voxline.domain.calls import AnsweredBy, CallEvent
from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, ProviderCall
from voxline.telephony.credentials import TwilioCredentials
from voxline.telephony.twilio import webhooks
from voxline.telephony.twilio.client import STATUS_EVENTS, TwilioClient

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-auth-token"
CALL_SID = "CA" + "2" * 32
PUBLIC = "https://voxline.example.com"
CREDENTIALS = TwilioCredentials(ACCOUNT_SID, AUTH_TOKEN)
LINE = ProviderCall("call-1", CALL_SID, CREDENTIALS)


def _call(status: str = "in-progress") -> dict[str, Any]:
    return {"sid": CALL_SID, "account_sid": ACCOUNT_SID, "status": status}


def _answer(method: str, path: str) -> tuple[int, Any]:
    if path.endswith("/Recordings.json"):
        return 200, {"recordings": [], "next_page_uri": None, "page": 0, "page_size": 50}
    if method == "POST" and path.endswith("/Calls.json"):
        return 201, _call("queued")
    return 200, _call()


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    recorder = RecordingServer(_answer)
    await recorder.start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def ours(server: RecordingServer) -> AsyncIterator[TwilioClient]:
    client = TwilioClient(public_base_url=PUBLIC, base_url=server.base_url, record=True)
    yield client
    await client.aclose()


@pytest.fixture
def sdk(server: RecordingServer) -> Client:
    http = TwilioHttpClient()
    assert http.session is not None
    route_session(http.session, "https://api.twilio.com", server.base_url)
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)


def _placement() -> PlacementRequest:
    return PlacementRequest(
        call_id="call-1",
        org_id="org-1",
        agent_id="agent-1",
        to_number="+14155550100",
        from_number="+14155550199",
        provider_type="twilio",
        join_timeout_seconds=25.0,
        credentials=CREDENTIALS,
    )


def _sdk_create(sdk: Client, **changes: Any) -> Any:
    callback = webhooks.events_url(PUBLIC, "call-1")
    arguments: dict[str, Any] = {
        "to": "+14155550100",
        "from_": "+14155550199",
        "twiml": webhooks.stream_twiml(PUBLIC, "call-1"),
        "status_callback": callback,
        "status_callback_method": "POST",
        "status_callback_event": list(STATUS_EVENTS),
        "timeout": 25,
        "machine_detection": "Enable",
        "async_amd": "true",
        "async_amd_status_callback": callback,
        "async_amd_status_callback_method": "POST",
        "record": True,
        "recording_channels": "dual",
    }
    arguments.update(changes)
    return sdk.calls.create(**arguments)


# -- REST operations --------------------------------------------------------------------------


async def test_placing_a_call_sends_what_calls_create_sends(
    ours: TwilioClient, sdk: Client, server: RecordingServer
) -> None:
    sid = await ours.place_call(_placement())
    mine = only_request(server)
    call, theirs = await sdk_call(server, lambda: _sdk_create(sdk))

    assert sid == call.sid == CALL_SID
    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    assert mine.form()["StatusCallbackEvent"] == list(STATUS_EVENTS)


async def test_the_comparison_notices_a_wrong_parameter_name(
    ours: TwilioClient, sdk: Client, server: RecordingServer
) -> None:
    await ours.place_call(_placement())
    mine = only_request(server)
    # The SDK's `time_limit` is a different parameter from our `Timeout`.
    _, theirs = await sdk_call(server, lambda: _sdk_create(sdk, timeout=None, time_limit=25))

    assert [line.split(":")[0] for line in differences(Shape.of(mine), Shape.of(theirs))] == [
        "params"
    ]


async def test_hanging_up_sends_what_call_update_completed_sends(
    ours: TwilioClient, sdk: Client, server: RecordingServer
) -> None:
    await ours.hangup(LINE)
    mine = only_request(server)
    _, theirs = await sdk_call(server, lambda: sdk.calls(CALL_SID).update(status="completed"))

    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    _, canceled = await sdk_call(server, lambda: sdk.calls(CALL_SID).update(status="canceled"))
    assert differences(Shape.of(mine), Shape.of(canceled)) != []


async def test_asking_a_calls_status_sends_what_call_fetch_sends(
    ours: TwilioClient, sdk: Client, server: RecordingServer
) -> None:
    status = await ours.call_status(LINE)
    mine = only_request(server)
    call, theirs = await sdk_call(server, lambda: sdk.calls(CALL_SID).fetch())

    assert status == call.status == "in-progress"
    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    other = Client("AC" + "9" * 32, AUTH_TOKEN, http_client=sdk.http_client)
    _, foreign = await sdk_call(server, lambda: other.calls(CALL_SID).fetch())
    assert {line.split(":")[0] for line in differences(Shape.of(mine), Shape.of(foreign))} == {
        "raw_path",
        "authorization",
    }


async def test_placement_state_sends_what_call_fetch_sends(
    ours: TwilioClient, sdk: Client, server: RecordingServer
) -> None:
    await ours.place_call(_placement())
    server.take()
    await ours.placement_state(LINE)
    mine = only_request(server)
    _, theirs = await sdk_call(server, lambda: sdk.calls(CALL_SID).fetch())

    assert differences(Shape.of(mine), Shape.of(theirs)) == []


async def test_listing_recordings_sends_what_call_recordings_list_sends(
    ours: TwilioClient, sdk: Client, server: RecordingServer
) -> None:
    assert await ours.recording_url(LINE) is None
    mine = only_request(server)
    listed, theirs = await sdk_call(server, lambda: sdk.calls(CALL_SID).recordings.list())

    assert listed == []
    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    _, paged = await sdk_call(server, lambda: sdk.calls(CALL_SID).recordings.list(page_size=5))
    assert [line.split(":")[0] for line in differences(Shape.of(mine), Shape.of(paged))] == [
        "query"
    ]


# -- TwiML ------------------------------------------------------------------------------------


def test_stream_twiml_equals_the_sdks_connect_stream() -> None:
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=webhooks.media_url(PUBLIC))
    stream.parameter(name="call_id", value="call-1")
    response.append(connect)

    assert tree_differences(webhooks.stream_twiml(PUBLIC, "call-1"), response.to_xml()) == []


def test_stream_twiml_with_a_media_token_equals_the_sdks_stream_parameters() -> None:
    token = "v1.1800000000.abc-_DEF"
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=webhooks.media_url(PUBLIC))
    stream.parameter(name="call_id", value="call-1")
    stream.parameter(name="token", value=token)
    response.append(connect)

    ours = webhooks.stream_twiml(PUBLIC, "call-1", token)
    assert tree_differences(ours, response.to_xml()) == []
    assert tree_differences(webhooks.stream_twiml(PUBLIC, "call-1"), response.to_xml()) != []


def test_stream_twiml_without_a_call_id_equals_a_stream_without_parameters() -> None:
    response = VoiceResponse()
    connect = Connect()
    connect.stream(url=webhooks.media_url(PUBLIC))
    response.append(connect)

    assert tree_differences(webhooks.stream_twiml(PUBLIC, None), response.to_xml()) == []
    assert tree_differences(webhooks.stream_twiml(PUBLIC, "call-1"), response.to_xml()) != []


def test_rejection_twiml_equals_the_sdks_say_and_hangup() -> None:
    response = VoiceResponse()
    response.say(webhooks.REJECTION_MESSAGE)
    response.hangup()

    assert tree_differences(webhooks.rejection_twiml(), response.to_xml()) == []
    assert tree_differences(webhooks.rejection_twiml("Goodbye."), response.to_xml()) != []


# -- Signatures -------------------------------------------------------------------------------

FORM = [("CallSid", CALL_SID), ("CallStatus", "completed"), ("AccountSid", ACCOUNT_SID)]
VALIDATOR = RequestValidator(AUTH_TOKEN)


@pytest.mark.parametrize(
    ("configured", "signed"),
    [
        ("https://voxline.example.com/webhooks/twilio/events?call_id=c", None),
        ("https://voxline.example.com/webhooks/twilio/events?call_id=c", "with port"),
        ("https://voxline.example.com:443/webhooks/twilio/events?call_id=c", "without port"),
        ("https://voxline.example.com:8443/webhooks/twilio/events?call_id=c", None),
        ("https://voxline.example.com:8443/webhooks/twilio/events?call_id=c", "without port"),
        ("http://voxline.example.com:8080/webhooks/twilio/events?call_id=c", "without port"),
    ],
)
def test_signatures_the_sdk_accepts_are_accepted(configured: str, signed: str | None) -> None:
    parsed = urlparse(configured)
    url = {None: configured, "with port": add_port(parsed), "without port": remove_port(parsed)}[
        signed
    ]
    signature = VALIDATOR.compute_signature(url, dict(FORM))

    assert VALIDATOR.validate(configured, dict(FORM), signature)
    assert webhooks.verify(AUTH_TOKEN, configured, FORM, signature)


@pytest.mark.parametrize(
    "signed",
    [
        "https://voxline.example.com:9443/webhooks/twilio/events?call_id=c",
        "https://voxline.example.com:443/webhooks/twilio/events?call_id=c",
        "https://voxline.example.com:8443/webhooks/twilio/events?call_id=other",
        "https://evil.example.com:8443/webhooks/twilio/events?call_id=c",
    ],
)
def test_signatures_the_sdk_refuses_on_a_non_default_port_are_refused(signed: str) -> None:
    configured = "https://voxline.example.com:8443/webhooks/twilio/events?call_id=c"
    signature = VALIDATOR.compute_signature(signed, dict(FORM))

    assert not VALIDATOR.validate(configured, dict(FORM), signature)
    assert not webhooks.verify(AUTH_TOKEN, configured, FORM, signature)


def test_a_wrong_signature_on_a_non_default_port_is_refused() -> None:
    configured = "https://voxline.example.com:8443/webhooks/twilio/events?call_id=c"
    signature = RequestValidator("another-token").compute_signature(
        "https://voxline.example.com/webhooks/twilio/events?call_id=c", dict(FORM)
    )

    assert not webhooks.verify(AUTH_TOKEN, configured, FORM, signature)


BODY = '{"CallSid": "' + CALL_SID + '", "CallStatus": "completed"}'


def _json_url(body: str, port: str = "") -> str:
    digest = hashlib.sha256(body.encode()).hexdigest()
    return f"https://voxline.example.com{port}/webhooks/twilio/events?bodySHA256={digest}"


@pytest.mark.parametrize("port", ["", ":8443"])
def test_a_json_webhook_signed_with_body_sha256_is_accepted(port: str) -> None:
    url = _json_url(BODY, port)
    signature = VALIDATOR.compute_signature(url, {})

    assert VALIDATOR.validate(url, BODY, signature)
    assert webhooks.verify(AUTH_TOKEN, url, BODY, signature)
    assert webhooks.verify(AUTH_TOKEN, url, BODY.encode(), signature)


def test_a_json_webhook_whose_body_does_not_match_its_hash_is_refused() -> None:
    url = _json_url(BODY)
    signature = VALIDATOR.compute_signature(url, {})
    tampered = BODY.replace("completed", "busy")

    assert not VALIDATOR.validate(url, tampered, signature)
    assert not webhooks.verify(AUTH_TOKEN, url, tampered, signature)
    assert not webhooks.verify(AUTH_TOKEN, url, BODY, signature[:-2] + "AA")


def test_a_raw_body_without_body_sha256_is_refused() -> None:
    url = "https://voxline.example.com/webhooks/twilio/events"
    # The SDK cannot validate this at all (it would index the string as a form); a signature
    # over the URL alone must not vouch for a body it does not cover.
    signature = VALIDATOR.compute_signature(url, {})

    assert not webhooks.verify(AUTH_TOKEN, url, BODY, signature)
    assert webhooks.verify(AUTH_TOKEN, url, [], signature)


# -- AnsweredBy -------------------------------------------------------------------------------


def test_answered_by_machine_from_the_calls_resource_is_a_machine() -> None:
    events = webhooks.parse_status(
        "call-1", {"CallSid": CALL_SID, "CallStatus": "in-progress", "AnsweredBy": "machine"}
    )

    assert [(e.event, e.answered_by) for e in events] == [
        (CallEvent.MACHINE_DETECTED, AnsweredBy.MACHINE)
    ]


def test_answered_by_human_and_unknown_stay_answers() -> None:
    for value, expected in (("human", AnsweredBy.HUMAN), ("unknown", AnsweredBy.UNKNOWN)):
        events = webhooks.parse_status(
            "call-1", {"CallSid": CALL_SID, "CallStatus": "in-progress", "AnsweredBy": value}
        )
        assert [(e.event, e.answered_by) for e in events] == [(CallEvent.ANSWERED, expected)]


# -- Transfer and keys -------------------------------------------------------------------------


@pytest.mark.parametrize("destination", ["+14155550123", "sip:desk@pbx.example.com"])
async def test_a_transfer_sends_what_call_update_with_dial_twiml_sends(
    ours: TwilioClient, sdk: Client, server: RecordingServer, destination: str
) -> None:
    await ours.transfer(LINE, destination)
    mine = only_request(server)
    response = VoiceResponse()
    dial = response.dial()
    if destination.startswith("sip:"):
        dial.sip(destination)
    else:
        dial.number(destination)
    _, theirs = await sdk_call(server, lambda: sdk.calls(CALL_SID).update(twiml=response))

    assert differences(Shape.of(mine, ignore={"Twiml"}), Shape.of(theirs, ignore={"Twiml"})) == []
    [twiml], [sdk_twiml] = mine.form()["Twiml"], theirs.form()["Twiml"]
    assert tree_differences(twiml, sdk_twiml) == []
    assert tree_differences(webhooks.dial_twiml("+14155550199"), sdk_twiml) != []


async def test_keys_are_left_to_the_media_stream_on_twilio(
    ours: TwilioClient, server: RecordingServer
) -> None:
    assert await ours.send_digits(LINE, "1w2#") is False
    assert server.take() == []
    with pytest.raises(ProviderError):
        await ours.send_digits(LINE, "1; DROP")
    with pytest.raises(ProviderError):
        await ours.transfer(LINE, "not a number")
    assert server.take() == []
