"""The Telnyx adapter against the Telnyx emulator: what it sends and how failures map."""

from __future__ import annotations

import base64
import socket

import httpx
import pytest

from tests.emulators.telnyx import (
    API_KEY,
    CONNECTION_ID,
    PUBLIC_BASE_URL,
    Injected,
    TelnyxEmulator,
)
from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, PlacementState, ProviderCall
from voxline.telephony.credentials import TelnyxCredentials
from voxline.telephony.telnyx.client import TelnyxClient


def placement(
    credentials: TelnyxCredentials | None, *, call_id: str = "call-1", timeout: float = 30.0
) -> PlacementRequest:
    return PlacementRequest(
        call_id=call_id,
        org_id="org-1",
        agent_id="agent-1",
        to_number="+14155550123",
        from_number="+13125550100",
        provider_type="telnyx",
        join_timeout_seconds=timeout,
        credentials=credentials,
    )


async def test_place_call_dials_with_callbacks_amd_and_a_bidirectional_stream(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    call_control_id = await telnyx.place_call(placement(credentials, timeout=12.5))

    call = emulator.calls[call_control_id]
    sent = call.request
    assert sent["connection_id"] == CONNECTION_ID
    assert (sent["to"], sent["from"]) == ("+14155550123", "+13125550100")
    assert sent["timeout_secs"] == 13
    assert sent["webhook_url"] == f"{PUBLIC_BASE_URL}/webhooks/telnyx/events?call_id=call-1"
    assert sent["webhook_url_method"] == "POST"
    assert sent["answering_machine_detection"] == "detect"
    assert sent["stream_url"] == "wss://voxline.example.com/media/telnyx?call_id=call-1"
    assert sent["stream_track"] == "inbound_track"
    assert sent["stream_codec"] == sent["stream_bidirectional_codec"] == "PCMU"
    assert sent["stream_bidirectional_mode"] == "rtp"
    assert base64.b64decode(sent["client_state"]).decode() == "call-1"
    assert sent["command_id"] == "call-1"
    assert "record" not in sent


async def test_a_retried_placement_does_not_dial_twice(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    first = await telnyx.place_call(placement(credentials))
    again = await telnyx.place_call(placement(credentials))

    assert first == again
    assert len(emulator.calls) == 1


async def test_join_timeout_is_clamped_to_what_telnyx_accepts(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    short = await telnyx.place_call(placement(credentials, call_id="a", timeout=1))
    long = await telnyx.place_call(placement(credentials, call_id="b", timeout=3600))

    assert emulator.calls[short].request["timeout_secs"] == 5
    assert emulator.calls[long].request["timeout_secs"] == 600


async def test_an_http_base_url_streams_over_plain_ws(
    emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    client = TelnyxClient(public_base_url="http://127.0.0.1:8000/", base_url=emulator.base_url)
    try:
        call_control_id = await client.place_call(placement(credentials))
    finally:
        await client.aclose()

    sent = emulator.calls[call_control_id].request
    assert sent["stream_url"] == "ws://127.0.0.1:8000/media/telnyx?call_id=call-1"
    assert sent["webhook_url"] == "http://127.0.0.1:8000/webhooks/telnyx/events?call_id=call-1"


async def test_recording_and_stream_token_are_requested_when_configured(
    emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    client = TelnyxClient(
        public_base_url=PUBLIC_BASE_URL,
        base_url=emulator.base_url,
        record=True,
        stream_auth_token=lambda call_id: f"token-for-{call_id}",
    )
    try:
        call_control_id = await client.place_call(placement(credentials))
    finally:
        await client.aclose()

    sent = emulator.calls[call_control_id].request
    assert sent["record"] == "record-from-answer"
    assert sent["stream_auth_token"] == "token-for-call-1"


async def test_a_credential_without_connection_id_is_refused_before_any_request(
    telnyx: TelnyxClient, emulator: TelnyxEmulator
) -> None:
    with pytest.raises(ProviderError) as caught:
        await telnyx.place_call(placement(TelnyxCredentials(API_KEY)))

    assert not caught.value.retryable
    assert "connection_id" in caught.value.message
    assert emulator.requests == []


async def test_a_wrong_api_key_is_final_and_never_echoed(
    telnyx: TelnyxClient, emulator: TelnyxEmulator
) -> None:
    wrong = TelnyxCredentials("KEYwrong-secret-value", None, CONNECTION_ID)

    with pytest.raises(ProviderError) as caught:
        await telnyx.place_call(placement(wrong))

    error = caught.value
    assert (error.retryable, error.http_status, error.provider_code) == (False, 401, "10009")
    assert "Authentication failed" in error.message
    assert "KEYwrong-secret-value" not in str(error.details) + error.message


async def test_a_malformed_number_is_final_with_telnyx_message(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    bad = PlacementRequest(
        call_id="c",
        org_id="o",
        agent_id="a",
        to_number="4155550123",
        from_number="+13125550100",
        provider_type="telnyx",
        join_timeout_seconds=30,
        credentials=credentials,
    )

    with pytest.raises(ProviderError) as caught:
        await telnyx.place_call(bad)

    assert not caught.value.retryable
    assert caught.value.provider_code == "10016"
    assert "E.164" in caught.value.message


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (403, False), (404, False)],
)
async def test_provider_statuses_map_to_retryable_or_final(
    telnyx: TelnyxClient,
    emulator: TelnyxEmulator,
    credentials: TelnyxCredentials,
    status: int,
    retryable: bool,
) -> None:
    emulator.inject(Injected(status=status, code="10011", title="Injected", detail="boom"))

    with pytest.raises(ProviderError) as caught:
        await telnyx.place_call(placement(credentials))

    error = caught.value
    assert (error.retryable, error.http_status, error.provider_code) == (retryable, status, "10011")
    assert "Injected: boom" in error.message
    assert error.__cause__ is None


async def test_a_timeout_is_retryable(
    emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    client = TelnyxClient(
        public_base_url=PUBLIC_BASE_URL, base_url=emulator.base_url, timeout_seconds=0.2
    )
    emulator.inject(Injected(stall_seconds=1.0))
    try:
        with pytest.raises(ProviderError) as caught:
            await client.place_call(placement(credentials))
    finally:
        await client.aclose()

    assert caught.value.retryable
    assert "in time" in caught.value.message


async def test_an_unreachable_api_is_retryable(credentials: TelnyxCredentials) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = TelnyxClient(public_base_url=PUBLIC_BASE_URL, base_url=f"http://127.0.0.1:{port}/v2")
    try:
        with pytest.raises(ProviderError) as caught:
            await client.place_call(placement(credentials))
    finally:
        await client.aclose()

    assert caught.value.retryable
    assert caught.value.__cause__ is None


async def test_an_error_body_that_is_not_json_still_maps_by_status(
    credentials: TelnyxCredentials,
) -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, content=b"<html>Bad gateway</html>")

    client = TelnyxClient(public_base_url=PUBLIC_BASE_URL, transport=httpx.MockTransport(gateway))
    try:
        with pytest.raises(ProviderError) as caught:
            await client.place_call(placement(credentials))
    finally:
        await client.aclose()

    error = caught.value
    assert error.retryable
    assert error.provider_code is None
    assert error.message == "Telnyx failed (HTTP 502)"


async def test_hangup_uses_the_calls_credential_and_is_idempotent(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    call_control_id = await telnyx.place_call(placement(credentials))
    elsewhere = TelnyxClient(public_base_url=PUBLIC_BASE_URL, base_url=emulator.base_url)
    try:
        # Another process, which never saw the placement, hangs the call up.
        await elsewhere.hangup(ProviderCall("call-1", call_control_id, credentials))
    finally:
        await elsewhere.aclose()
    await telnyx.hangup(ProviderCall("call-1", call_control_id, credentials))  # 422 90018

    assert [action for action, _ in emulator.calls[call_control_id].commands] == ["hangup"]
    method, path, _ = emulator.requests[-1]
    assert (method, path) == ("POST", f"/v2/calls/{call_control_id}/actions/hangup")


async def test_hangup_of_an_unknown_call_is_a_final_error(
    telnyx: TelnyxClient, credentials: TelnyxCredentials
) -> None:
    with pytest.raises(ProviderError) as caught:
        await telnyx.hangup(ProviderCall("call-1", "v3:unknown", credentials))

    assert (caught.value.retryable, caught.value.http_status) == (False, 404)


async def test_hangup_without_any_known_credential_fails_without_a_request(
    telnyx: TelnyxClient, emulator: TelnyxEmulator
) -> None:
    with pytest.raises(ProviderError):
        await telnyx.hangup(ProviderCall("call-1", "v3:someone-elses", None))

    assert emulator.requests == []


async def test_placement_state_asks_telnyx_about_the_call_control_id(
    telnyx: TelnyxClient, credentials: TelnyxCredentials
) -> None:
    call_control_id = await telnyx.place_call(placement(credentials))

    placed = ProviderCall("call-1", call_control_id, credentials)
    assert await telnyx.placement_state(placed) is PlacementState.PLACED
    unnamed = ProviderCall("call-2", None, credentials)
    assert await telnyx.placement_state(unnamed) is PlacementState.UNKNOWN


async def test_recording_url_is_the_download_link_of_the_call_leg(
    emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    client = TelnyxClient(public_base_url=PUBLIC_BASE_URL, base_url=emulator.base_url, record=True)
    try:
        call_control_id = await client.place_call(placement(credentials))
        line = ProviderCall("call-1", call_control_id, credentials)
        assert await client.recording_url(line) is None
        emulator.scenario(call_control_id, "completed")
        url = await client.recording_url(line)
    finally:
        await client.aclose()

    leg = emulator.calls[call_control_id].call_leg_id
    assert url == f"https://s3.emulator.invalid/{leg}.mp3"


async def test_recording_url_of_a_call_placed_elsewhere_looks_the_leg_up(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    call = emulator.add_call("outgoing", {"record": "record-from-answer"})
    call.recording_urls = {"wav": "https://s3.emulator.invalid/x.wav"}

    url = await telnyx.recording_url(ProviderCall("call-1", call.call_control_id, credentials))

    assert url == "https://s3.emulator.invalid/x.wav"
    paths = [path for _, path, _ in emulator.requests]
    assert paths == [f"/v2/calls/{call.call_control_id}", "/v2/recordings"]


async def test_answer_streams_an_inbound_call_to_voxline(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    call, _ = emulator.inbound("+14155550123", "+13125550100", f"{PUBLIC_BASE_URL}/hook")

    await telnyx.answer(ProviderCall("call-9", call.call_control_id, credentials))

    [(action, body)] = call.commands
    assert action == "answer"
    assert body["stream_url"] == "wss://voxline.example.com/media/telnyx?call_id=call-9"
    assert body["stream_bidirectional_mode"] == "rtp"
    assert body["webhook_url"] == f"{PUBLIC_BASE_URL}/webhooks/telnyx/events?call_id=call-9"


async def test_reject_turns_an_inbound_call_away(
    telnyx: TelnyxClient, emulator: TelnyxEmulator, credentials: TelnyxCredentials
) -> None:
    call, _ = emulator.inbound("+14155550123", "+13125550100", f"{PUBLIC_BASE_URL}/hook")

    await telnyx.reject(ProviderCall("call-9", call.call_control_id, credentials))

    assert call.commands == [("reject", {"cause": "CALL_REJECTED"})]
    assert not call.alive
