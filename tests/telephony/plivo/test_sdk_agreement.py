"""Our Plivo adapter against plivo-python: each Voice API operation sends the request the
official SDK sends for it, and our Plivo XML equals the SDK's ``plivoxml`` builders'."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import plivo
import pytest
from plivo import plivoxml

from tests.emulators.recorder import RecordingServer
from tests.telephony.agreement import (
    Shape,
    differences,
    only_request,
    route_session,
    sdk_call,
    tree_differences,
)
from voxline.telephony.base import PlacementRequest, ProviderCall
from voxline.telephony.credentials import PlivoCredentials
from voxline.telephony.plivo import webhooks
from voxline.telephony.plivo.client import PlivoClient

AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"
AUTH_TOKEN = "plivo-auth-token"
REQUEST_UUID = "9834029e-58b6-11e1-b8b7-a5bd0e4e126f"
GONE_UUID = "00000000-0000-0000-0000-00000000dead"
PUBLIC = "https://voxline.example.com"
CREDENTIALS = PlivoCredentials(AUTH_ID, AUTH_TOKEN)

# Parameters plivo-python always sends with its own defaults, which are Plivo's server-side
# defaults too; we leave them out on purpose (telephony.md §3).
SDK_CREATE_DEFAULTS = {"fallback_method", "machine_detection_time", "error_if_parent_not_found"}
SDK_LIST_DEFAULTS = {"limit", "offset"}


def _answer(method: str, path: str) -> tuple[int, Any]:
    if method == "DELETE":
        return (
            (404, {"error": "not found"}) if GONE_UUID in path and "/Call/" in path else (204, None)
        )
    if path.endswith("/Recording/"):
        return 200, {"api_id": "x", "meta": {"limit": 20, "offset": 0}, "objects": []}
    return 201, {"api_id": "x", "message": "call fired", "request_uuid": REQUEST_UUID}


@pytest.fixture
async def server() -> AsyncIterator[RecordingServer]:
    recorder = RecordingServer(_answer)
    await recorder.start()
    yield recorder
    await recorder.stop()


@pytest.fixture
async def ours(server: RecordingServer) -> AsyncIterator[PlivoClient]:
    client = PlivoClient(public_base_url=PUBLIC, api_base_url=server.base_url)
    yield client
    await client.aclose()


@pytest.fixture
def sdk(server: RecordingServer) -> plivo.RestClient:
    client = plivo.RestClient(AUTH_ID, AUTH_TOKEN)
    route_session(client.session, "https://api.plivo.com", server.base_url)
    return client


def _placement() -> PlacementRequest:
    return PlacementRequest(
        call_id="call-1",
        org_id="org-1",
        agent_id="agent-1",
        to_number="+14155550123",
        from_number="+13125550100",
        provider_type="plivo",
        join_timeout_seconds=30.0,
        credentials=CREDENTIALS,
    )


def _sdk_create(sdk: plivo.RestClient, **changes: Any) -> Any:
    events = webhooks.events_url(PUBLIC, "call-1")
    arguments: dict[str, Any] = {
        "from_": "13125550100",
        "to_": "14155550123",
        "answer_url": webhooks.answer_url(PUBLIC, "call-1"),
        "answer_method": "POST",
        "ring_url": events,
        "ring_method": "POST",
        "hangup_url": events,
        "hangup_method": "POST",
        "ring_timeout": 30,
        "machine_detection": "true",
        "machine_detection_url": events,
        "machine_detection_method": "POST",
    }
    arguments.update(changes)
    return sdk.calls.create(
        **{name: value for name, value in arguments.items() if value is not None}
    )


def _fields(shape_differences: list[str]) -> list[str]:
    return [line.split(":")[0] for line in shape_differences]


# -- REST operations --------------------------------------------------------------------------


async def test_placing_a_call_sends_what_calls_create_sends(
    ours: PlivoClient, sdk: plivo.RestClient, server: RecordingServer
) -> None:
    request_uuid = await ours.place_call(_placement())
    mine = only_request(server)
    created, theirs = await sdk_call(server, lambda: _sdk_create(sdk))

    assert request_uuid == created.request_uuid == REQUEST_UUID
    assert mine.raw_path == f"/v1/Account/{AUTH_ID}/Call/"
    assert differences(Shape.of(mine), Shape.of(theirs, ignore=SDK_CREATE_DEFAULTS)) == []


async def test_the_comparison_notices_a_wrong_parameter_name(
    ours: PlivoClient, sdk: plivo.RestClient, server: RecordingServer
) -> None:
    await ours.place_call(_placement())
    mine = only_request(server)
    # `time_limit` caps the call's length; `ring_timeout` (ours) is how long it may ring.
    _, theirs = await sdk_call(server, lambda: _sdk_create(sdk, ring_timeout=None, time_limit=30))

    assert _fields(differences(Shape.of(mine), Shape.of(theirs, ignore=SDK_CREATE_DEFAULTS))) == [
        "params"
    ]


async def test_hanging_up_sends_what_calls_delete_sends(
    ours: PlivoClient, sdk: plivo.RestClient, server: RecordingServer
) -> None:
    await ours.hangup(ProviderCall("call-1", REQUEST_UUID, CREDENTIALS))
    mine = only_request(server)
    _, theirs = await sdk_call(server, lambda: sdk.calls.delete(REQUEST_UUID))

    # plivo-python echoes its own call_uuid argument as a JSON body of the DELETE; the id is
    # already in the path and Plivo documents no body for "hang up a call", so we send none.
    assert theirs.json() == {"call_uuid": REQUEST_UUID}
    without_echo = replace(Shape.of(theirs), content_type="", params=b"")
    assert differences(Shape.of(mine), without_echo) == []
    _, canceled = await sdk_call(server, lambda: sdk.calls.cancel(REQUEST_UUID))
    assert _fields(differences(Shape.of(mine), Shape.of(canceled))) == ["raw_path"]


async def test_hanging_up_a_call_still_ringing_cancels_it_as_calls_cancel_does(
    ours: PlivoClient, sdk: plivo.RestClient, server: RecordingServer
) -> None:
    await ours.hangup(ProviderCall("call-1", GONE_UUID, CREDENTIALS))
    deleted, canceled = server.take()
    _, theirs = await sdk_call(server, lambda: sdk.calls.cancel(GONE_UUID))

    assert deleted.raw_path == f"/v1/Account/{AUTH_ID}/Call/{GONE_UUID}/"
    assert differences(Shape.of(canceled), Shape.of(theirs)) == []


async def test_finding_a_recording_sends_what_recordings_list_sends(
    ours: PlivoClient, sdk: plivo.RestClient, server: RecordingServer
) -> None:
    assert await ours.recording_url(ProviderCall("call-1", REQUEST_UUID, CREDENTIALS)) is None
    mine = only_request(server)
    _, theirs = await sdk_call(server, lambda: sdk.recordings.list(call_uuid=REQUEST_UUID))

    assert differences(Shape.of(mine), Shape.of(theirs, ignore=SDK_LIST_DEFAULTS)) == []
    _, other = await sdk_call(server, lambda: sdk.recordings.list(conference_uuid=REQUEST_UUID))
    assert _fields(differences(Shape.of(mine), Shape.of(other, ignore=SDK_LIST_DEFAULTS))) == [
        "query"
    ]


# -- Plivo XML --------------------------------------------------------------------------------

STREAM_URL = "wss://voxline.example.com/media/plivo?call_id=call-1"


def _sdk_stream(**extra: Any) -> str:
    response = plivoxml.ResponseElement()
    response.add(
        plivoxml.StreamElement(
            STREAM_URL,
            bidirectional=True,
            keepCallAlive=True,
            contentType="audio/x-mulaw;rate=8000",
            streamTimeout=86400,
            **extra,
        )
    )
    return str(response.to_string(pretty=False))


def test_the_answer_xml_equals_the_sdks_stream_element() -> None:
    ours = webhooks.answer_xml(STREAM_URL, call_id="1234-abcd")
    theirs = _sdk_stream(extraHeaders=webhooks.stream_headers("1234-abcd"))

    assert tree_differences(ours, theirs) == []
    assert tree_differences(ours, _sdk_stream()) != []


def test_the_answer_xml_without_a_call_id_has_no_extra_headers() -> None:
    assert tree_differences(webhooks.answer_xml(STREAM_URL), _sdk_stream()) == []


def test_the_rejection_xml_equals_the_sdks_speak_and_hangup() -> None:
    response = plivoxml.ResponseElement()
    response.add(plivoxml.SpeakElement(webhooks.REJECTION_MESSAGE))
    response.add(plivoxml.HangupElement(reason="rejected"))
    theirs = str(response.to_string(pretty=False))

    assert tree_differences(webhooks.rejection_xml(), theirs) == []
    assert tree_differences(webhooks.rejection_xml("Bye."), theirs) != []


# -- Transfer and keys -------------------------------------------------------------------------

LIVE = ProviderCall("call-1", REQUEST_UUID, CREDENTIALS)


async def test_pressing_keys_sends_what_calls_send_digits_sends(
    ours: PlivoClient, sdk: plivo.RestClient, server: RecordingServer
) -> None:
    assert await ours.send_digits(LIVE, "1w2#") is True
    mine = only_request(server)
    _, theirs = await sdk_call(
        server, lambda: sdk.calls.send_digits(REQUEST_UUID, "1w2#", leg="aleg")
    )

    assert mine.raw_path == f"/v1/Account/{AUTH_ID}/Call/{REQUEST_UUID}/DTMF/"
    # plivo-python echoes its call_uuid argument in the body; the id is in the path already.
    assert theirs.json()["call_uuid"] == REQUEST_UUID
    assert differences(Shape.of(mine), Shape.of(theirs, ignore={"call_uuid"})) == []


async def test_a_transfer_sends_what_calls_transfer_sends(
    ours: PlivoClient, sdk: plivo.RestClient, server: RecordingServer
) -> None:
    await ours.transfer(LIVE, "+14155550123")
    mine = only_request(server)
    url = webhooks.transfer_url(PUBLIC, "call-1", "+14155550123")
    _, theirs = await sdk_call(
        server,
        lambda: sdk.calls.transfer(REQUEST_UUID, legs="aleg", aleg_url=url, aleg_method="POST"),
    )

    assert mine.raw_path == f"/v1/Account/{AUTH_ID}/Call/{REQUEST_UUID}/"
    assert differences(Shape.of(mine), Shape.of(theirs, ignore={"call_uuid"})) == []
    assert mine.json()["aleg_url"] == (
        f"{PUBLIC}/webhooks/plivo/transfer?call_id=call-1&to=%2B14155550123"
    )


@pytest.mark.parametrize(
    ("destination", "element"),
    [
        ("+14155550123", plivoxml.NumberElement("14155550123")),
        ("sip:desk@pbx.example.com", plivoxml.UserElement("sip:desk@pbx.example.com")),
    ],
)
def test_the_transfer_xml_equals_the_sdks_dial(destination: str, element: Any) -> None:
    response = plivoxml.ResponseElement()
    response.add(plivoxml.DialElement().add(element))
    theirs = str(response.to_string(pretty=False))

    assert tree_differences(webhooks.dial_xml(destination), theirs) == []
    assert tree_differences(webhooks.dial_xml("+14155550199"), theirs) != []
