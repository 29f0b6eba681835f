"""Our Telnyx adapter against telnyx-python 4.x: each Call Control operation sends the
request the official SDK sends for it (same path, call id spelling, Bearer key, JSON body)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telnyx import AsyncTelnyx
from telnyx.resources.calls.actions import AsyncActionsResource

from tests.emulators.recorder import Recorded, RecordingServer
from tests.telephony.agreement import Shape, differences, only_request
from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, ProviderCall
from voxline.telephony.credentials import TelnyxCredentials
from voxline.telephony.telnyx import webhooks
from voxline.telephony.telnyx.client import TelnyxClient

API_KEY = "KEY0123456789"
CONNECTION_ID = "1494404757140276705"
CALL_CONTROL_ID = "v3:ZmFrZS1jYWxsLWNvbnRyb2wtaWQ"
CALL_LEG_ID = "428c31b6-7af4-4bcb-b7f5-5013ef9657c1"
PUBLIC = "https://voxline.example.com"
CREDENTIALS = TelnyxCredentials(api_key=API_KEY, connection_id=CONNECTION_ID)
LINE = ProviderCall("call-9", CALL_CONTROL_ID, CREDENTIALS)


def _answer(method: str, path: str) -> tuple[int, Any]:
    call = {
        "record_type": "call",
        "call_control_id": CALL_CONTROL_ID,
        "call_leg_id": CALL_LEG_ID,
        "call_session_id": "428c31b6-0000-4bcb-b7f5-5013ef9657c1",
        "is_alive": True,
    }
    if path == "/v2/recordings":
        return 200, {"data": [], "meta": {"page_number": 1, "page_size": 20, "total_pages": 0}}
    if "/actions/" in path:
        return 200, {"data": {"result": "ok"}}
    return 200, {"data": call}


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    recorder = RecordingServer(_answer)
    await recorder.start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def ours(server: RecordingServer) -> AsyncIterator[TelnyxClient]:
    client = TelnyxClient(public_base_url=PUBLIC, base_url=f"{server.base_url}/v2")
    yield client
    await client.aclose()


@pytest.fixture
async def sdk(server: RecordingServer) -> AsyncIterator[AsyncTelnyx]:
    client = AsyncTelnyx(api_key=API_KEY, base_url=f"{server.base_url}/v2", max_retries=0)
    yield client
    await client.close()


def _placement() -> PlacementRequest:
    return PlacementRequest(
        call_id="call-1",
        org_id="org-1",
        agent_id="agent-1",
        to_number="+14155550123",
        from_number="+13125550100",
        provider_type="telnyx",
        join_timeout_seconds=30.0,
        credentials=CREDENTIALS,
    )


def _one(server: RecordingServer) -> Recorded:
    return only_request(server)


def _fields(shape_differences: list[str]) -> list[str]:
    return [line.split(":")[0] for line in shape_differences]


# -- Dial -------------------------------------------------------------------------------------


def _dial_arguments(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "connection_id": CONNECTION_ID,
        "to": "+14155550123",
        "from_": "+13125550100",
        "timeout_secs": 30,
        "webhook_url": webhooks.events_url(PUBLIC, "call-1"),
        "webhook_url_method": "POST",
        "answering_machine_detection": "detect",
        "client_state": webhooks.encode_client_state("call-1"),
        "command_id": "call-1",
        "stream_url": webhooks.media_url(PUBLIC, "call-1"),
        "stream_track": "inbound_track",
        "stream_codec": "PCMU",
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": "PCMU",
        "stream_bidirectional_sampling_rate": 8000,
    }
    arguments.update(changes)
    return arguments


async def test_dialing_sends_what_calls_dial_sends(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    call_control_id = await ours.place_call(_placement())
    mine = _one(server)
    dialed = await sdk.calls.dial(**_dial_arguments())
    theirs = _one(server)

    assert dialed.data is not None and dialed.data.call_control_id == call_control_id
    assert differences(Shape.of(mine), Shape.of(theirs)) == []


async def test_the_comparison_notices_a_wrong_field_name(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    await ours.place_call(_placement())
    mine = _one(server)
    arguments = _dial_arguments()
    del arguments["timeout_secs"]
    await sdk.calls.dial(**arguments, time_limit_secs=30)
    theirs = _one(server)

    assert _fields(differences(Shape.of(mine), Shape.of(theirs))) == ["params"]


# -- Call commands ----------------------------------------------------------------------------


async def test_hanging_up_sends_what_actions_hangup_sends(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    await ours.hangup(LINE)
    mine = _one(server)
    await sdk.calls.actions.hangup(CALL_CONTROL_ID)
    theirs = _one(server)

    assert mine.raw_path == f"/v2/calls/{CALL_CONTROL_ID}/actions/hangup"
    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    await sdk.calls.actions.hangup(CALL_CONTROL_ID, client_state="eA==")
    assert _fields(differences(Shape.of(mine), Shape.of(_one(server)))) == ["params"]


async def test_a_call_id_is_spelled_in_the_path_as_the_sdk_spells_it(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    odd = "v3:a/b c@d"
    await ours.hangup(ProviderCall("call-9", odd, CREDENTIALS))
    mine = _one(server)
    await sdk.calls.actions.hangup(odd)
    theirs = _one(server)

    assert mine.raw_path == theirs.raw_path == "/v2/calls/v3:a%2Fb%20c@d/actions/hangup"


async def test_answering_sends_what_actions_answer_sends(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    await ours.answer(LINE)
    mine = _one(server)
    await sdk.calls.actions.answer(
        CALL_CONTROL_ID,
        stream_url=webhooks.media_url(PUBLIC, "call-9"),
        stream_track="inbound_track",
        stream_codec="PCMU",
        stream_bidirectional_mode="rtp",
        stream_bidirectional_codec="PCMU",
        webhook_url=webhooks.events_url(PUBLIC, "call-9"),
        webhook_url_method="POST",
        client_state=webhooks.encode_client_state("call-9"),
        command_id="answer-call-9",
    )
    theirs = _one(server)

    assert differences(Shape.of(mine), Shape.of(theirs)) == []


def test_the_answer_command_has_only_fields_the_answer_operation_takes() -> None:
    taken = set(inspect.signature(AsyncActionsResource.answer).parameters)
    streaming = set(inspect.signature(AsyncActionsResource.start_streaming).parameters)

    assert set(webhooks.answer_command(PUBLIC, "call-9")) <= taken
    # The negative neighbour: the streaming_start body uses fields answer lacks.
    assert not set(webhooks.streaming_start_command(PUBLIC, "call-9", stream_auth_token="t")) <= (
        taken
    )
    assert "stream_auth_token" in streaming


async def test_an_answer_with_a_stream_token_starts_the_stream_as_the_sdk_would(
    sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    client = TelnyxClient(
        public_base_url=PUBLIC,
        base_url=f"{server.base_url}/v2",
        stream_auth_token=lambda call_id: f"token-for-{call_id}",
    )
    try:
        await client.answer(LINE)
    finally:
        await client.aclose()
    answered, started = server.take()

    await sdk.calls.actions.answer(
        CALL_CONTROL_ID,
        webhook_url=webhooks.events_url(PUBLIC, "call-9"),
        webhook_url_method="POST",
        client_state=webhooks.encode_client_state("call-9"),
        command_id="answer-call-9",
    )
    sdk_answered = _one(server)
    await sdk.calls.actions.start_streaming(
        CALL_CONTROL_ID,
        stream_url=webhooks.media_url(PUBLIC, "call-9"),
        stream_track="inbound_track",
        stream_codec="PCMU",
        stream_bidirectional_mode="rtp",
        stream_bidirectional_codec="PCMU",
        stream_bidirectional_sampling_rate=8000,
        stream_auth_token="token-for-call-9",
        client_state=webhooks.encode_client_state("call-9"),
        command_id="stream-call-9",
    )
    sdk_started = _one(server)

    assert differences(Shape.of(answered), Shape.of(sdk_answered)) == []
    assert differences(Shape.of(started), Shape.of(sdk_started)) == []
    assert started.json()["stream_auth_token"] == "token-for-call-9"


async def test_rejecting_sends_what_actions_reject_sends(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    await ours.reject(LINE)
    mine = _one(server)
    await sdk.calls.actions.reject(CALL_CONTROL_ID, cause="CALL_REJECTED")
    theirs = _one(server)

    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    await sdk.calls.actions.reject(CALL_CONTROL_ID, cause="USER_BUSY")
    assert _fields(differences(Shape.of(mine), Shape.of(_one(server)))) == ["params"]


# -- Recordings -------------------------------------------------------------------------------


async def test_finding_a_recording_sends_what_retrieve_status_and_recordings_list_send(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    assert await ours.recording_url(LINE) is None
    fetched, listed = server.take()

    await sdk.calls.retrieve_status(CALL_CONTROL_ID)
    sdk_fetched = _one(server)
    await sdk.recordings.list(filter={"call_leg_id": CALL_LEG_ID})
    sdk_listed = _one(server)

    assert differences(Shape.of(fetched), Shape.of(sdk_fetched)) == []
    assert differences(Shape.of(listed), Shape.of(sdk_listed)) == []
    await sdk.recordings.list(filter={"call_control_id": CALL_LEG_ID})
    assert _fields(differences(Shape.of(listed), Shape.of(_one(server)))) == ["query"]


async def test_dialing_with_recording_and_a_stream_token_sends_what_calls_dial_sends(
    sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    client = TelnyxClient(
        public_base_url=PUBLIC,
        base_url=f"{server.base_url}/v2",
        record=True,
        stream_auth_token=lambda call_id: f"token-for-{call_id}",
    )
    try:
        await client.place_call(_placement())
    finally:
        await client.aclose()
    mine = _one(server)
    await sdk.calls.dial(
        **_dial_arguments(
            record="record-from-answer",
            record_channels="dual",
            stream_auth_token="token-for-call-1",
        )
    )
    theirs = _one(server)

    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    await sdk.calls.dial(**_dial_arguments(record="record-from-answer", record_channels="dual"))
    assert _fields(differences(Shape.of(mine), Shape.of(_one(server)))) == ["params"]


# -- Transfer and keys -------------------------------------------------------------------------


async def test_pressing_keys_sends_what_actions_send_dtmf_sends(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer
) -> None:
    assert await ours.send_digits(LINE, "1w2#") is True
    mine = _one(server)
    await sdk.calls.actions.send_dtmf(CALL_CONTROL_ID, digits="1w2#", duration_millis=250)
    theirs = _one(server)

    assert mine.raw_path == f"/v2/calls/{CALL_CONTROL_ID}/actions/send_dtmf"
    assert differences(Shape.of(mine), Shape.of(theirs)) == []
    await sdk.calls.actions.send_dtmf(CALL_CONTROL_ID, digits="1w2")
    assert differences(Shape.of(mine), Shape.of(_one(server))) != []


@pytest.mark.parametrize("destination", ["+14155550123", "sip:desk@pbx.example.com"])
async def test_a_transfer_sends_what_actions_transfer_sends(
    ours: TelnyxClient, sdk: AsyncTelnyx, server: RecordingServer, destination: str
) -> None:
    await ours.transfer(LINE, destination)
    mine = _one(server)
    await sdk.calls.actions.transfer(CALL_CONTROL_ID, to=destination)
    theirs = _one(server)

    assert mine.raw_path == f"/v2/calls/{CALL_CONTROL_ID}/actions/transfer"
    assert differences(Shape.of(mine), Shape.of(theirs)) == []


async def test_bad_keys_or_destinations_send_nothing(
    ours: TelnyxClient, server: RecordingServer
) -> None:
    with pytest.raises(ProviderError):
        await ours.send_digits(LINE, "")
    with pytest.raises(ProviderError):
        await ours.transfer(LINE, "4155550123")
    assert server.take() == []
