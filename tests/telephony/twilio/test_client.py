"""The Twilio REST client against the Twilio emulator: placement, hang-up, recordings, errors."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest

from tests.emulators.twilio import ACCOUNT_SID, AUTH_TOKEN, Failure, TwilioEmulator
from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, PlacementState, ProviderCall
from voxline.telephony.credentials import TelnyxCredentials, TwilioCredentials
from voxline.telephony.twilio.client import TwilioClient

PUBLIC = "https://voxline.example.com"
CREDENTIALS = TwilioCredentials(ACCOUNT_SID, AUTH_TOKEN)


def _request(**overrides: object) -> PlacementRequest:
    fields: dict[str, object] = {
        "call_id": "call-123",
        "org_id": "org-1",
        "agent_id": "agent-1",
        "to_number": "+14155550100",
        "from_number": "+14155550199",
        "provider_type": "twilio",
        "join_timeout_seconds": 25.0,
        "credentials": CREDENTIALS,
    }
    fields.update(overrides)
    return PlacementRequest(**fields)  # type: ignore[arg-type]


def _line(sid: str | None, call_id: str = "call-123") -> ProviderCall:
    """The call as any process hands it to the adapter: its SID and its account."""
    return ProviderCall(call_id, sid, CREDENTIALS)


@pytest.fixture
async def client(twilio: TwilioEmulator) -> AsyncIterator[TwilioClient]:
    adapter = TwilioClient(public_base_url=PUBLIC, base_url=twilio.base_url, timeout_seconds=2)
    yield adapter
    await adapter.aclose()


async def test_place_call_sends_what_twilio_expects(
    client: TwilioClient, twilio: TwilioEmulator
) -> None:
    sid = await client.place_call(_request())

    assert sid.startswith("CA") and len(sid) == 34
    call = twilio.calls[sid]
    events_url = f"{PUBLIC}/webhooks/twilio/events?call_id=call-123"
    assert call.first("To") == "+14155550100"
    assert call.first("From") == "+14155550199"
    assert call.first("StatusCallback") == events_url
    assert call.first("StatusCallbackMethod") == "POST"
    assert call.all("StatusCallbackEvent") == ["initiated", "ringing", "answered", "completed"]
    assert call.first("Timeout") == "25"
    assert call.first("MachineDetection") == "Enable"
    assert call.first("AsyncAmd") == "true"
    assert call.first("AsyncAmdStatusCallback") == events_url
    assert call.first("Url") is None and call.first("Record") is None


async def test_placement_twiml_connects_a_bidirectional_stream_to_voxline(
    client: TwilioClient, twilio: TwilioEmulator
) -> None:
    sid = await client.place_call(_request())

    root = ET.fromstring(twilio.calls[sid].first("Twiml") or "")
    stream = root.find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://voxline.example.com/media/twilio"
    parameter = stream.find("Parameter")
    assert parameter is not None
    assert (parameter.get("name"), parameter.get("value")) == ("call_id", "call-123")


async def test_http_base_url_gives_a_ws_media_url(twilio: TwilioEmulator) -> None:
    adapter = TwilioClient(public_base_url="http://127.0.0.1:8000/", base_url=twilio.base_url)
    try:
        sid = await adapter.place_call(_request())
    finally:
        await adapter.aclose()

    twiml = twilio.calls[sid].first("Twiml") or ""
    assert 'url="ws://127.0.0.1:8000/media/twilio"' in twiml
    status_callback = twilio.calls[sid].first("StatusCallback")
    assert status_callback == "http://127.0.0.1:8000/webhooks/twilio/events?call_id=call-123"


async def test_ring_timeout_is_clamped_to_twilio_limits(
    client: TwilioClient, twilio: TwilioEmulator
) -> None:
    long_sid = await client.place_call(_request(join_timeout_seconds=900))
    short_sid = await client.place_call(_request(join_timeout_seconds=0.2))

    assert twilio.calls[long_sid].first("Timeout") == "600"
    assert twilio.calls[short_sid].first("Timeout") == "1"


async def test_recording_is_requested_when_enabled(twilio: TwilioEmulator) -> None:
    adapter = TwilioClient(public_base_url=PUBLIC, base_url=twilio.base_url, record=True)
    try:
        sid = await adapter.place_call(_request())
    finally:
        await adapter.aclose()

    assert twilio.calls[sid].first("Record") == "true"


async def test_invalid_number_is_not_retryable_and_keeps_twilio_message(
    client: TwilioClient,
) -> None:
    with pytest.raises(ProviderError) as caught:
        await client.place_call(_request(to_number="4155550100"))

    error = caught.value
    assert not error.retryable
    assert (error.provider_code, error.http_status) == ("21211", 400)
    assert "Invalid 'To' Phone Number" in error.message


async def test_wrong_auth_token_is_not_retryable_and_never_shows_the_token(
    client: TwilioClient,
) -> None:
    wrong = TwilioCredentials(ACCOUNT_SID, "0" * 32)
    with pytest.raises(ProviderError) as caught:
        await client.place_call(_request(credentials=wrong))

    assert not caught.value.retryable
    assert (caught.value.provider_code, caught.value.http_status) == ("20003", 401)
    assert "0" * 32 not in str(caught.value)


async def test_placement_without_twilio_credentials_is_refused(client: TwilioClient) -> None:
    with pytest.raises(ProviderError) as caught:
        await client.place_call(_request(credentials=TelnyxCredentials("KEYabc")))

    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (404, False), (400, False)],
)
async def test_http_errors_map_to_retryable_by_status(
    client: TwilioClient, twilio: TwilioEmulator, status: int, retryable: bool
) -> None:
    twilio.fail_next(Failure(status, code=20000 + status, message="emulated trouble"))

    with pytest.raises(ProviderError) as caught:
        await client.place_call(_request())

    assert caught.value.retryable is retryable
    assert caught.value.http_status == status
    assert caught.value.provider_code == str(20000 + status)
    assert "emulated trouble" in caught.value.message


async def test_timeout_is_retryable(twilio: TwilioEmulator) -> None:
    adapter = TwilioClient(public_base_url=PUBLIC, base_url=twilio.base_url, timeout_seconds=0.2)
    twilio.stall_next(1.0)
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.place_call(_request())
    finally:
        await adapter.aclose()

    assert caught.value.retryable
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = TwilioClient(public_base_url=PUBLIC, base_url=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.place_call(_request())
    finally:
        await adapter.aclose()

    assert caught.value.retryable


async def test_hangup_completes_the_call(client: TwilioClient, twilio: TwilioEmulator) -> None:
    sid = await client.place_call(_request())

    await client.hangup(_line(sid))

    method, path, form = twilio.requests[-1]
    assert (method, path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json")
    assert form == [("Status", "completed")]
    assert twilio.calls[sid].status == "canceled"  # it was still queued
    assert await client.call_status(_line(sid)) == "canceled"


async def test_hangup_of_an_unknown_call_is_a_no_op(twilio: TwilioEmulator) -> None:
    adapter = TwilioClient(public_base_url=PUBLIC, base_url=twilio.base_url)
    try:
        await adapter.hangup(_line("CA" + "f" * 32))
    finally:
        await adapter.aclose()

    assert twilio.requests[-1][0] == "POST"


async def test_hangup_failure_propagates(client: TwilioClient, twilio: TwilioEmulator) -> None:
    sid = await client.place_call(_request())
    twilio.fail_next(Failure(502))

    with pytest.raises(ProviderError) as caught:
        await client.hangup(_line(sid))

    assert caught.value.retryable


async def test_hangup_without_any_credentials_is_refused(
    client: TwilioClient, twilio: TwilioEmulator
) -> None:
    sent = len(twilio.requests)
    with pytest.raises(ProviderError):
        await client.hangup(ProviderCall("call-123", "CA" + "a" * 32, None))
    with pytest.raises(ProviderError):
        await client.hangup(ProviderCall("call-123", "CA" + "a" * 32, TelnyxCredentials("KEYa")))
    assert len(twilio.requests) == sent


async def test_any_client_hangs_up_a_call_another_client_placed(
    client: TwilioClient, twilio: TwilioEmulator
) -> None:
    sid = await client.place_call(_request())
    other = TwilioClient(public_base_url=PUBLIC, base_url=twilio.base_url)
    try:
        await other.hangup(_line(sid))
    finally:
        await other.aclose()

    assert twilio.calls[sid].status == "canceled"


async def test_recording_url_is_the_latest_completed_recording(
    client: TwilioClient, twilio: TwilioEmulator
) -> None:
    sid = await client.place_call(_request())
    assert await client.recording_url(_line(sid)) is None

    done = twilio.add_recording(sid)
    twilio.add_recording(sid, status="processing")

    url = await client.recording_url(_line(sid))
    assert url == f"{twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{done}.wav"


async def test_placement_state_asks_twilio_about_the_calls_sid(client: TwilioClient) -> None:
    assert await client.placement_state(_line(None)) is PlacementState.UNKNOWN

    sid = await client.place_call(_request())

    assert await client.placement_state(_line(sid)) is PlacementState.PLACED
    assert await client.placement_state(_line("CA" + "0" * 32)) is PlacementState.NOT_PLACED


async def test_placement_twiml_carries_the_calls_media_token(twilio: TwilioEmulator) -> None:
    adapter = TwilioClient(
        public_base_url=PUBLIC,
        base_url=twilio.base_url,
        timeout_seconds=2,
        stream_token=lambda call_id: f"token-for-{call_id}",
    )
    try:
        sid = await adapter.place_call(_request())
    finally:
        await adapter.aclose()
    root = ET.fromstring(twilio.calls[sid].first("Twiml") or "")
    parameters = {p.get("name"): p.get("value") for p in root.iter("Parameter")}
    assert parameters == {"call_id": "call-123", "token": "token-for-call-123"}


async def test_a_client_without_a_token_source_sends_no_token(
    client: TwilioClient, twilio: TwilioEmulator
) -> None:
    sid = await client.place_call(_request())
    root = ET.fromstring(twilio.calls[sid].first("Twiml") or "")
    assert [p.get("name") for p in root.iter("Parameter")] == ["call_id"]
