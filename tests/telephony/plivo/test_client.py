"""PlivoClient against the Plivo emulator: what it sends, and how failures map."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from tests.emulators.plivo import AUTH_ID, AUTH_TOKEN, Failure, PlivoEmulator
from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, PlacementState, ProviderCall
from voxline.telephony.credentials import PlivoCredentials, TwilioCredentials
from voxline.telephony.plivo.client import PlivoClient

PUBLIC = "https://voxline.example.com"
CREDENTIALS = PlivoCredentials(AUTH_ID, AUTH_TOKEN)
REQUEST = PlacementRequest(
    call_id="3f2a6c1e-0000-4000-8000-000000000001",
    org_id="org-1",
    agent_id="agent-1",
    to_number="+14155550100",
    from_number="+14155550199",
    provider_type="plivo",
    join_timeout_seconds=25.4,
    credentials=CREDENTIALS,
)


def _line(request_uuid: str | None) -> ProviderCall:
    """The call as any process hands it to the adapter: its id and its account."""
    return ProviderCall(REQUEST.call_id, request_uuid, CREDENTIALS)


@pytest.fixture
async def plivo() -> AsyncIterator[PlivoEmulator]:
    emulator = PlivoEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def client(plivo: PlivoEmulator) -> AsyncIterator[PlivoClient]:
    adapter = PlivoClient(public_base_url=PUBLIC, api_base_url=plivo.base_url, timeout_seconds=2)
    yield adapter
    await adapter.aclose()


async def test_place_call_sends_what_plivo_expects(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    request_uuid = await client.place_call(REQUEST)

    assert request_uuid in plivo.calls
    [sent] = plivo.requests
    assert (sent.method, sent.path) == ("POST", f"/v1/Account/{AUTH_ID}/Call/")
    events = f"{PUBLIC}/webhooks/plivo/events?call_id={REQUEST.call_id}"
    assert sent.body == {
        "from": "14155550199",
        "to": "14155550100",
        "answer_url": f"{PUBLIC}/webhooks/plivo/answer?call_id={REQUEST.call_id}",
        "answer_method": "POST",
        "ring_url": events,
        "ring_method": "POST",
        "hangup_url": events,
        "hangup_method": "POST",
        "ring_timeout": 25,
        "machine_detection": "true",
        "machine_detection_url": events,
        "machine_detection_method": "POST",
    }


async def test_public_base_url_trailing_slash_is_ignored(plivo: PlivoEmulator) -> None:
    adapter = PlivoClient(public_base_url=f"{PUBLIC}/", api_base_url=plivo.base_url)
    await adapter.place_call(REQUEST)
    await adapter.aclose()
    assert plivo.requests[0].body["answer_url"].startswith(f"{PUBLIC}/webhooks/plivo/answer?")


async def test_wrong_token_is_a_non_retryable_error_with_plivos_message(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    bad = replace(REQUEST, credentials=PlivoCredentials(AUTH_ID, "not-the-token"))
    with pytest.raises(ProviderError) as caught:
        await client.place_call(bad)
    error = caught.value
    assert (error.retryable, error.http_status, error.provider) == (False, 401, "plivo")
    assert "Authentication failed" in error.message
    assert "not-the-token" not in error.message


async def test_400_carries_plivos_error_and_is_not_retryable(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    same_number = replace(REQUEST, from_number=REQUEST.to_number)
    with pytest.raises(ProviderError) as caught:
        await client.place_call(same_number)
    assert caught.value.retryable is False
    assert caught.value.http_status == 400
    assert "src and destination cannot overlap" in caught.value.message


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (503, True), (429, True), (408, True), (404, False), (422, False)],
)
async def test_status_codes_map_to_retryability(
    plivo: PlivoEmulator, client: PlivoClient, status: int, retryable: bool
) -> None:
    plivo.fail_next(Failure(status=status, error="emulated trouble"))
    with pytest.raises(ProviderError) as caught:
        await client.place_call(REQUEST)
    assert (caught.value.retryable, caught.value.http_status) == (retryable, status)
    assert "emulated trouble" in caught.value.message


async def test_timeout_is_retryable(plivo: PlivoEmulator) -> None:
    adapter = PlivoClient(public_base_url=PUBLIC, api_base_url=plivo.base_url, timeout_seconds=0.2)
    plivo.fail_next(Failure(stall_seconds=1.0))
    with pytest.raises(ProviderError) as caught:
        await adapter.place_call(REQUEST)
    await adapter.aclose()
    assert caught.value.retryable is True
    assert caught.value.__cause__ is None
    assert "in time" in caught.value.message


async def test_connection_refused_is_retryable() -> None:
    adapter = PlivoClient(public_base_url=PUBLIC, api_base_url="http://127.0.0.1:9")
    with pytest.raises(ProviderError) as caught:
        await adapter.place_call(REQUEST)
    await adapter.aclose()
    assert caught.value.retryable is True
    assert AUTH_TOKEN not in str(caught.value)


async def test_success_without_request_uuid_is_not_retryable() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(201, json={"message": "call fired"}))
    adapter = PlivoClient(public_base_url=PUBLIC, transport=transport)
    with pytest.raises(ProviderError) as caught:
        await adapter.place_call(REQUEST)
    await adapter.aclose()
    assert caught.value.retryable is False


async def test_requests_use_basic_auth_and_the_real_api_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"request_uuid": "abc", "api_id": "x"})

    adapter = PlivoClient(public_base_url=PUBLIC, transport=httpx.MockTransport(handler))
    await adapter.place_call(REQUEST)
    await adapter.aclose()
    expected = base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
    assert seen[0].headers["authorization"] == f"Basic {expected}"
    assert str(seen[0].url) == f"https://api.plivo.com/v1/Account/{AUTH_ID}/Call/"
    assert seen[0].extensions["timeout"]["read"] == 10.0


async def test_missing_or_foreign_credentials_are_refused(client: PlivoClient) -> None:
    for credentials in (None, TwilioCredentials("AC" + "0" * 32, "0" * 32)):
        with pytest.raises(ProviderError) as caught:
            await client.place_call(replace(REQUEST, credentials=credentials))
        assert caught.value.retryable is False


async def test_hangup_of_a_live_call_deletes_the_call(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    request_uuid = await client.place_call(REQUEST)
    plivo.calls[request_uuid].state = "in-progress"

    await client.hangup(_line(request_uuid))

    assert plivo.calls[request_uuid].state == "ended"
    assert [(r.method, r.path) for r in plivo.requests[1:]] == [
        ("DELETE", f"/v1/Account/{AUTH_ID}/Call/{request_uuid}/")
    ]


async def test_hangup_of_a_ringing_call_cancels_the_request(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    request_uuid = await client.place_call(REQUEST)

    await client.hangup(_line(request_uuid))

    assert plivo.calls[request_uuid].state == "ended"
    assert plivo.requests[-1].path == f"/v1/Account/{AUTH_ID}/Request/{request_uuid}/"


async def test_hangup_of_a_call_already_gone_succeeds(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    await client.hangup(_line("9834029e-58b6-11e1-b8b7-a5bd0e4e126f"))
    assert len(plivo.requests) == 2


async def test_hangup_without_plivo_credentials_sends_nothing(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    request_uuid = await client.place_call(REQUEST)
    sent = len(plivo.requests)
    with pytest.raises(ProviderError):
        await client.hangup(ProviderCall(REQUEST.call_id, request_uuid, None))
    with pytest.raises(ProviderError):
        wrong = TwilioCredentials("AC" + "0" * 32, "0" * 32)
        await client.hangup(ProviderCall(REQUEST.call_id, request_uuid, wrong))
    assert len(plivo.requests) == sent


async def test_hangup_server_error_is_retryable(plivo: PlivoEmulator, client: PlivoClient) -> None:
    request_uuid = await client.place_call(REQUEST)
    plivo.fail_next(Failure(status=500))
    with pytest.raises(ProviderError) as caught:
        await client.hangup(_line(request_uuid))
    assert caught.value.retryable is True


async def test_recording_url_is_fetched_from_plivo(
    plivo: PlivoEmulator, client: PlivoClient
) -> None:
    request_uuid = await client.place_call(REQUEST)
    assert await client.recording_url(_line(request_uuid)) is None

    url = plivo.add_recording(request_uuid)

    assert await client.recording_url(_line(request_uuid)) == url
    assert plivo.requests[-1].query == {"call_uuid": request_uuid}


async def test_placement_state_is_unknown(client: PlivoClient) -> None:
    assert await client.placement_state(_line(None)) is PlacementState.UNKNOWN


async def test_machine_detection_can_be_switched_off(plivo: PlivoEmulator) -> None:
    adapter = PlivoClient(
        public_base_url=PUBLIC, api_base_url=plivo.base_url, machine_detection=False
    )
    await adapter.place_call(REQUEST)
    await adapter.aclose()
    assert "machine_detection" not in plivo.requests[0].body
