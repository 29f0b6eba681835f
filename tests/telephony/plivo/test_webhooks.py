"""Plivo webhooks: signature V3 (against plivo-python), callback parsing and Plivo XML."""

from __future__ import annotations

import random
import string
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import plivo.xml as plivoxml
import pytest
from plivo.utils.signature_v3 import validate_v3_signature

from tests.emulators.plivo import AUTH_ID, AUTH_TOKEN, Callback, PlivoEmulator
from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.telephony.base import PlacementRequest
from voxline.telephony.credentials import PlivoCredentials
from voxline.telephony.plivo import webhooks
from voxline.telephony.plivo.client import PlivoClient
from voxline.telephony.plivo.webhooks import (
    InboundCall,
    answer_xml,
    media_url,
    parse_event,
    parse_inbound,
    rejection_xml,
    signature,
    verify,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CALL_ID = "3f2a6c1e-0000-4000-8000-000000000001"
TOKEN = "MY_AUTH_TOKEN"
NONCE = "12345678901234567890"


# -- Signature V3 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "params", "expected"),
    [
        (
            "POST",
            "https://example.com/hangup",
            {"CallUUID": "abc", "CallStatus": "completed", "Event": "Hangup"},
            "BS/5oEUevSXNZJgqlI4AEfgXukkIQ7WWEVuUItAbubk=",
        ),
        (
            "POST",
            "https://example.com/answer?x=1&a=2",
            {"CallUUID": "abc", "From": "14155550100"},
            "aBtIQ33fR82R497sLToCZFgLBIk7gGBmqSdKwTKfGiY=",
        ),
        ("GET", "https://example.com/stream", {}, "cv5kwkNHZ0Jb4IyW50WFPzr4LX9+e2XHjLE2mThTeYA="),
    ],
)
def test_signature_matches_the_published_vectors(
    method: str, url: str, params: dict[str, str], expected: str
) -> None:
    assert signature(TOKEN, method, url, NONCE, params) == expected
    assert verify(
        auth_token=TOKEN, method=method, url=url, nonce=NONCE, signatures=expected, params=params
    )


def _random_text(rng: random.Random, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))


def test_signature_agrees_with_the_plivo_sdk_on_random_requests() -> None:
    rng = random.Random(7)
    for _ in range(300):
        token, nonce = _random_text(rng), _random_text(rng, string.digits)
        query = "&".join(
            f"{_random_text(rng)}={_random_text(rng)}" for _ in range(rng.randint(0, 3))
        )
        url = f"https://{_random_text(rng).lower()}.example.com/{_random_text(rng)}"
        url += f"?{query}" if query else ""
        method = rng.choice(["GET", "POST"])
        value_chars = string.ascii_letters + string.digits + " +-:._@"
        params = {
            _random_text(rng): _random_text(rng, value_chars) for _ in range(rng.randint(0, 6))
        }
        ours = signature(token, method, url, nonce, params)
        assert validate_v3_signature(method, url, nonce, token, ours, dict(params)), (url, params)
        assert verify(
            auth_token=token, method=method, url=url, nonce=nonce, signatures=ours, params=params
        )


SIGNED_URL = f"https://voxline.example.com/webhooks/plivo/events?call_id={CALL_ID}"
SIGNED_PARAMS = {"CallUUID": "abc", "Event": "Hangup", "CallStatus": "completed"}


def _valid() -> dict[str, object]:
    return {
        "auth_token": TOKEN,
        "method": "POST",
        "url": SIGNED_URL,
        "nonce": NONCE,
        "signatures": signature(TOKEN, "POST", SIGNED_URL, NONCE, SIGNED_PARAMS),
        "params": SIGNED_PARAMS,
    }


def test_valid_signature_is_accepted_also_among_several() -> None:
    good = _valid()
    assert verify(**good)  # type: ignore[arg-type]
    several = {**good, "signatures": f"bm90IGl0=, {good['signatures']}"}
    assert verify(**several)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tamper",
    [
        {"params": {**SIGNED_PARAMS, "CallStatus": "busy"}},
        {"params": {**SIGNED_PARAMS, "Extra": "1"}},
        {"url": SIGNED_URL.replace("call_id=", "call_id=x")},
        {"url": SIGNED_URL.replace("https://", "http://")},
        {"nonce": "12345678901234567891"},
        {"auth_token": "ANOTHER_TOKEN"},
        {"signatures": "BS/5oEUevSXNZJgqlI4AEfgXukkIQ7WWEVuUItAbubk="},
        {"signatures": ""},
        {"nonce": ""},
        {"method": "GET"},
    ],
)
def test_tampered_request_is_rejected(tamper: dict[str, object]) -> None:
    assert not verify(**{**_valid(), **tamper})  # type: ignore[arg-type]


# -- Emulated callbacks: signed by the SDK, verified and parsed by us --------------------------


@pytest.fixture
async def placed() -> AsyncIterator[tuple[PlivoEmulator, str]]:
    emulator = PlivoEmulator()
    await emulator.start()
    client = PlivoClient(
        public_base_url="https://voxline.example.com", api_base_url=emulator.base_url
    )
    request = PlacementRequest(
        call_id=CALL_ID,
        org_id="org",
        agent_id="agent",
        to_number="+14155550100",
        from_number="+14155550199",
        provider_type="plivo",
        join_timeout_seconds=30,
        credentials=PlivoCredentials(AUTH_ID, AUTH_TOKEN),
    )
    yield emulator, await client.place_call(request)
    await client.aclose()
    await emulator.stop()


def _receive(callback: Callback) -> list[tuple[CallEvent, AnsweredBy | None, EndReason | None]]:
    """What a route would do: verify against the URL called, then parse the form body."""
    params = dict(parse_qsl(callback.body.decode(), keep_blank_values=True))
    assert verify(
        auth_token=AUTH_TOKEN,
        method="POST",
        url=callback.url,
        nonce=callback.headers["X-Plivo-Signature-V3-Nonce"],
        signatures=callback.headers["X-Plivo-Signature-V3"],
        params=params,
    )
    call_id = dict(parse_qsl(urlsplit(callback.url).query))["call_id"]
    events = parse_event(params, call_id=call_id, received_at=NOW)
    for event in events:
        assert (event.call_id, event.at, event.provider_call_id) == (
            CALL_ID,
            NOW,
            params["CallUUID"],
        )
    return [(e.event, e.answered_by, e.end_reason) for e in events]


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "completed",
            [
                (CallEvent.RINGING, None, None),
                (CallEvent.ANSWERED, None, None),
                (CallEvent.HANGUP, None, EndReason.CONTACT_HANGUP),
            ],
        ),
        ("busy", [(CallEvent.RINGING, None, None), (CallEvent.BUSY, None, EndReason.BUSY)]),
        (
            "no-answer",
            [(CallEvent.RINGING, None, None), (CallEvent.NO_ANSWER, None, EndReason.NO_ANSWER)],
        ),
        ("failed", [(CallEvent.FAILED, None, EndReason.PROVIDER_ERROR)]),
        (
            "voicemail",
            [
                (CallEvent.RINGING, None, None),
                (CallEvent.ANSWERED, None, None),
                (CallEvent.MACHINE_DETECTED, AnsweredBy.MACHINE, EndReason.VOICEMAIL),
                (CallEvent.HANGUP, None, EndReason.AGENT_HANGUP),
            ],
        ),
    ],
)
def test_emulated_scenarios_verify_and_parse_in_order(
    placed: tuple[PlivoEmulator, str], scenario: str, expected: list[object]
) -> None:
    emulator, request_uuid = placed
    received = [e for cb in emulator.callbacks(request_uuid, scenario) for e in _receive(cb)]
    assert received == expected


def test_emulated_callback_with_a_wrong_token_fails_verification(
    placed: tuple[PlivoEmulator, str],
) -> None:
    emulator, request_uuid = placed
    callback = emulator.callbacks(request_uuid, "completed")[-1]
    assert not verify(
        auth_token="some-other-token",
        method="POST",
        url=callback.url,
        nonce=callback.headers["X-Plivo-Signature-V3-Nonce"],
        signatures=callback.headers["X-Plivo-Signature-V3"],
        params=callback.params,
    )


def test_hangup_details_keep_plivos_numbers_and_cause(placed: tuple[PlivoEmulator, str]) -> None:
    emulator, request_uuid = placed
    hangup = emulator.callbacks(request_uuid, "busy")[-1]
    [event] = parse_event(hangup.params, call_id=CALL_ID, received_at=NOW)
    assert event.cause == "Busy Line"
    assert event.details["request_uuid"] == request_uuid
    assert event.details["hangup_cause_code"] == "3010"
    assert event.details["provider_status"] == "busy"


# -- Parsing edge cases --------------------------------------------------------------------------


def _hangup(**fields: str) -> CallEvent | EndReason | None:
    params = {"Event": "Hangup", "CallUUID": "u", **fields}
    [event] = parse_event(params, call_id=CALL_ID, received_at=NOW)
    return event.end_reason


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"CallStatus": "completed", "HangupSource": "Call recipient"}, EndReason.CONTACT_HANGUP),
        (
            {"CallStatus": "completed", "HangupSource": "Caller", "Direction": "inbound"},
            EndReason.CONTACT_HANGUP,
        ),
        ({"CallStatus": "completed", "HangupSource": "API Request"}, EndReason.AGENT_HANGUP),
        ({"CallStatus": "completed", "HangupCauseCode": "4010"}, EndReason.AGENT_HANGUP),
        ({"CallStatus": "completed", "HangupSource": "Error"}, EndReason.PROVIDER_ERROR),
        ({"CallStatus": "cancel"}, EndReason.CANCELED),
        ({"CallStatus": "timeout"}, EndReason.NO_ANSWER),
        ({"CallStatus": "failed", "HangupCause": "USER_BUSY"}, EndReason.BUSY),
        ({"CallStatus": "failed", "HangupCause": "CALL_REJECTED"}, EndReason.REJECTED),
        ({"CallStatus": "completed", "HangupCause": "ORIGINATOR_CANCEL"}, EndReason.CANCELED),
        (
            {"CallStatus": "completed", "HangupCauseName": "Canceled", "AnswerTime": "x"},
            EndReason.CONTACT_HANGUP,
        ),
    ],
)
def test_hangup_end_reason(fields: dict[str, str], reason: EndReason) -> None:
    assert _hangup(**fields) == reason


def test_machine_detection_of_a_human_is_an_answer_by_a_human() -> None:
    params = {"Event": "MachineDetection", "Machine": "false", "CallUUID": "u"}
    [event] = parse_event(params, call_id=CALL_ID, received_at=NOW)
    assert (event.event, event.answered_by) == (CallEvent.ANSWERED, AnsweredBy.HUMAN)


@pytest.mark.parametrize(
    "params",
    [
        {"Event": "StartStream", "CallUUID": "u"},
        {"Event": "StartApp", "Direction": "inbound", "CallUUID": "u"},
        {"record_url": "https://x/y.mp3", "call_uuid": "u"},
        {},
    ],
)
def test_callbacks_without_a_call_event_give_nothing(params: dict[str, str]) -> None:
    assert parse_event(params, call_id=CALL_ID, received_at=NOW) == []


def test_inbound_call_is_described_in_e164() -> None:
    params = {
        "Event": "StartApp",
        "Direction": "inbound",
        "CallUUID": "c-1",
        "From": "14155550100",
        "To": "+442071838750",
    }
    assert parse_inbound(params) == InboundCall("c-1", "+14155550100", "+442071838750")
    assert parse_inbound({**params, "From": "anonymous"}) == InboundCall(
        "c-1", "anonymous", "+442071838750"
    )
    assert parse_inbound({**params, "Direction": "outbound"}) is None


# -- URLs and XML --------------------------------------------------------------------------------


def test_media_url_follows_the_public_scheme() -> None:
    assert media_url("https://vox.example.com/", CALL_ID) == (
        f"wss://vox.example.com/media/plivo?call_id={CALL_ID}"
    )
    assert media_url("http://127.0.0.1:8000", "a&b") == (
        "ws://127.0.0.1:8000/media/plivo?call_id=a%26b"
    )


def test_media_url_carries_the_media_token_in_its_query() -> None:
    assert media_url("https://vox.example.com", CALL_ID, "v1.9.a+b") == (
        f"wss://vox.example.com/media/plivo?call_id={CALL_ID}&token=v1.9.a%2Bb"
    )


def _shape(document: str) -> list[tuple[str, dict[str, str], str | None]]:
    """Tags, attributes and text, ignoring the SDK's pretty-printing whitespace."""
    return [
        (el.tag, el.attrib, (el.text or "").strip() or None)
        for el in ET.fromstring(document).iter()
    ]


def test_answer_xml_matches_the_plivo_sdks_stream_element() -> None:
    stream = media_url("https://vox.example.com", CALL_ID) + "&x=1"
    sdk = plivoxml.ResponseElement()
    sdk.add(
        plivoxml.StreamElement(
            stream,
            bidirectional=True,
            keepCallAlive=True,
            contentType="audio/x-mulaw;rate=8000",
            streamTimeout=86400,
            extraHeaders="callId=3f2a6c1e000040008000000000000001",
        )
    )
    ours = answer_xml(stream, call_id=CALL_ID)
    assert ours.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "&amp;x=1" in ours
    assert _shape(ours) == _shape(sdk.to_string())


def test_rejection_xml_speaks_then_rejects() -> None:
    sdk = plivoxml.ResponseElement()
    sdk.add(plivoxml.SpeakElement("Closed <now> & later"))
    sdk.add(plivoxml.HangupElement(reason="rejected"))
    assert _shape(rejection_xml("Closed <now> & later")) == _shape(sdk.to_string())
    assert webhooks.REJECTION_MESSAGE in rejection_xml()
