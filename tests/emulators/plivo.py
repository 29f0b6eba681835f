"""A Plivo Voice API on loopback, for testing the Plivo adapter.

A real HTTP server (Starlette under uvicorn, on a free port in the test's event loop) that
behaves as ``reference/telephony.md`` §3 describes Plivo:

- ``POST /v1/Account/{auth_id}/Call/``: HTTP Basic ``auth_id:auth_token`` matching the path
  (else 401), a JSON body (else 400), the mandatory ``from``/``to``/``answer_url``, numbers as
  digits with a country code, absolute http(s) URLs, ``GET``/``POST`` methods, known
  parameters only, ``machine_detection`` ``true|hangup``; 201 ``{"message": "call fired",
  "request_uuid", "api_id"}``;
- ``DELETE .../Call/{uuid}/`` (204 for a live call, else 404) and ``DELETE
  .../Request/{uuid}/`` (204 for a call not yet answered, else 404);
- ``GET .../Recording/?call_uuid=`` listing the call's recordings;
- errors in Plivo's shape ``{"api_id", "error"}``; :meth:`PlivoEmulator.fail_next` injects a
  status or a stall on the next request.

:meth:`PlivoEmulator.callbacks` produces the form-encoded callbacks Plivo would send for a
scenario, in order, each signed with signature V3 by plivo-python's own code (so the adapter's
verifier is checked against an independent implementation). Every request is kept in
:attr:`PlivoEmulator.requests`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import secrets
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from plivo.utils.signature_v3 import construct_post_url, get_signature_v3
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.loopback import LoopbackServer

AUTH_ID = "MAEMULATOR000000PLIV"
AUTH_TOKEN = "emulator-plivo-token"

_NUMBER = re.compile(r"\+?[1-9]\d{6,14}")
_URL_KEYS = ("answer_url", "ring_url", "hangup_url", "fallback_url", "machine_detection_url")
_METHOD_KEYS = (
    "answer_method",
    "ring_method",
    "hangup_method",
    "fallback_method",
    "machine_detection_method",
)
_KNOWN_KEYS = frozenset(
    {
        "from",
        "to",
        "caller_name",
        "send_digits",
        "send_on_preanswer",
        "time_limit",
        "hangup_on_ring",
        "machine_detection",
        "machine_detection_time",
        "machine_detection_maximum_speech_length",
        "machine_detection_initial_silence",
        "machine_detection_maximum_words",
        "machine_detection_initial_greeting",
        "sip_headers",
        "ring_timeout",
        "parent_call_uuid",
        "error_if_parent_not_found",
        "callback_url",
        "callback_method",
        *_URL_KEYS,
        *_METHOD_KEYS,
    }
)
SCENARIOS = ("completed", "busy", "no-answer", "failed", "voicemail")


@dataclass
class Failure:
    """What the emulator does instead of serving the next request."""

    status: int = 500
    error: str = "Internal server error"
    stall_seconds: float = 0.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class EmulatedCall:
    request_uuid: str
    body: dict[str, Any]
    state: str = "ringing"  # ringing | in-progress | ended
    recordings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Callback:
    """One signed callback, ready to POST: ``body`` is form-encoded ``params``."""

    url: str
    headers: dict[str, str]
    params: dict[str, str]

    @property
    def body(self) -> bytes:
        return urlencode(self.params).encode()


def sign(auth_token: str, url: str, params: dict[str, str], nonce: str) -> str:
    """Signature V3 of a POST, computed by plivo-python (``reference/telephony.md`` §3.4)."""
    base = construct_post_url(url, dict(params)).decode("utf-8")
    signature: bytes = get_signature_v3(auth_token.encode(), base, nonce.encode())
    return signature.decode()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"api_id": str(uuid.uuid4()), "error": message}, status)


def _problem(body: Any) -> str | None:
    """Why a make-call body would be refused by Plivo, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    unknown = sorted(set(body) - _KNOWN_KEYS)
    if unknown:
        return f"unknown parameter {unknown[0]}"
    for key in ("from", "to", "answer_url"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"{key} parameter is required"
    for key in ("from", "to"):
        if not _NUMBER.fullmatch(body[key]):
            return f"{key} must be a phone number with country code"
    if body["from"] == body["to"]:
        return "src and destination cannot overlap"
    for key in _URL_KEYS:
        if key in body and urlsplit(str(body[key])).scheme not in ("http", "https"):
            return f"{key} must be an absolute http(s) URL"
    for key in _METHOD_KEYS:
        if key in body and body[key] not in ("GET", "POST"):
            return f"{key} must be GET or POST"
    if body.get("machine_detection", "true") not in ("true", "hangup"):
        return "machine_detection must be true or hangup"
    ring_timeout = body.get("ring_timeout", 120)
    if not isinstance(ring_timeout, int) or isinstance(ring_timeout, bool) or ring_timeout < 1:
        return "ring_timeout must be a positive integer"
    return None


class PlivoEmulator:
    def __init__(self, *, auth_id: str = AUTH_ID, auth_token: str = AUTH_TOKEN) -> None:
        self.auth_id = auth_id
        self.auth_token = auth_token
        self.requests: list[RecordedRequest] = []
        self.calls: dict[str, EmulatedCall] = {}
        self.failures: deque[Failure] = deque()
        self.base_url = ""
        self._loopback: LoopbackServer | None = None
        prefix = "/v1/Account/{auth_id}"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/Call/", self._create_call, methods=["POST"]),
                Route(f"{prefix}/Call/{{uuid}}/", self._hangup_call, methods=["DELETE"]),
                Route(f"{prefix}/Request/{{uuid}}/", self._cancel_request, methods=["DELETE"]),
                Route(f"{prefix}/Recording/", self._list_recordings, methods=["GET"]),
            ]
        )

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    def add_recording(self, call_uuid: str) -> str:
        url = f"https://media.plivo.com/v1/Account/{self.auth_id}/Recording/{uuid.uuid4()}.mp3"
        self.calls[call_uuid].recordings.append(url)
        return url

    # -- REST ------------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            scheme == "Basic"
            and user == self.auth_id == request.path_params["auth_id"]
            and password == self.auth_token
        )

    async def _gate(self, request: Request, body: Any = None) -> Response | None:
        """Record the request, then refuse it for auth or an injected failure."""
        self.requests.append(
            RecordedRequest(request.method, request.url.path, dict(request.query_params), body)
        )
        if not self._authorized(request):
            return _error(401, "Authentication failed")
        if self.failures:
            failure = self.failures.popleft()
            if failure.stall_seconds:
                await asyncio.sleep(failure.stall_seconds)
            return _error(failure.status, failure.error)
        return None

    async def _create_call(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        refused = await self._gate(request, body)
        if refused is not None:
            return refused
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error(400, "content type must be application/json")
        problem = _problem(body)
        if problem:
            return _error(400, problem)
        request_uuid = str(uuid.uuid4())
        self.calls[request_uuid] = EmulatedCall(request_uuid, body)
        return JSONResponse(
            {"message": "call fired", "request_uuid": request_uuid, "api_id": str(uuid.uuid4())},
            201,
        )

    def inbound_call(self, caller: str, number: str) -> str:
        """A call a contact placed to one of the account's numbers, answered and live;
        returns its CallUUID."""
        call_uuid = str(uuid.uuid4())
        body = {"from": caller.removeprefix("+"), "to": number.removeprefix("+")}
        self.calls[call_uuid] = EmulatedCall(call_uuid, body, state="in-progress")
        return call_uuid

    async def _end(self, request: Request, state: str) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        call = self.calls.get(request.path_params["uuid"])
        if call is None or call.state != state:
            return _error(404, "Call not found")
        call.state = "ended"
        return Response(status_code=204)

    async def _hangup_call(self, request: Request) -> Response:
        return await self._end(request, "in-progress")

    async def _cancel_request(self, request: Request) -> Response:
        return await self._end(request, "ringing")

    async def _list_recordings(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        call = self.calls.get(request.query_params.get("call_uuid", ""))
        objects = [
            {
                "call_uuid": request.query_params["call_uuid"],
                "recording_id": url.rsplit("/", 1)[-1].removesuffix(".mp3"),
                "recording_url": url,
                "recording_format": "mp3",
            }
            for url in (call.recordings if call else [])
        ]
        meta = {"count": len(objects), "limit": 20, "offset": 0, "next": None, "previous": None}
        return JSONResponse({"api_id": str(uuid.uuid4()), "meta": meta, "objects": objects})

    # -- Callbacks -------------------------------------------------------------------------

    def signed(self, url: str, params: dict[str, str]) -> Callback:
        nonce = "".join(secrets.choice("0123456789") for _ in range(20))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Plivo-Signature-V3": sign(self.auth_token, url, params, nonce),
            "X-Plivo-Signature-V3-Nonce": nonce,
        }
        return Callback(url, headers, params)

    def callbacks(self, request_uuid: str, scenario: str) -> list[Callback]:
        """The callbacks Plivo sends, in order, for one placed call living ``scenario``
        (one of :data:`SCENARIOS`); the call ends in the emulator."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario}")
        call = self.calls[request_uuid]
        body = call.body
        base = {
            "CallUUID": request_uuid,
            "RequestUUID": request_uuid,
            "ALegUUID": request_uuid,
            "ALegRequestUUID": request_uuid,
            "From": body["from"].removeprefix("+"),
            "To": body["to"].removeprefix("+"),
            "Direction": "outbound",
            "SessionStart": "2026-03-02 10:00:00.000000",
        }
        steps: list[tuple[str, dict[str, str]]] = []
        if scenario != "failed":
            steps.append(("ring_url", {"Event": "Ring", "CallStatus": "ringing"}))
        if scenario in ("completed", "voicemail"):
            steps.append(("answer_url", {"Event": "StartApp", "CallStatus": "in-progress"}))
        if scenario == "voicemail":
            amd = {"Event": "MachineDetection", "CallStatus": "in-progress", "Machine": "true"}
            steps.append(("machine_detection_url", amd))
        steps.append(("hangup_url", {"Event": "Hangup", **_hangup_fields(scenario)}))
        call.state = "ended"
        return [self.signed(body[key], {**base, **fields}) for key, fields in steps if key in body]

    # -- Server ----------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free loopback port; returns the API base URL (no ``/v1``)."""
        self._loopback = LoopbackServer(self.app)
        self.base_url = await self._loopback.start()
        return self.base_url

    async def stop(self) -> None:
        if self._loopback is not None:
            await self._loopback.stop()
            self._loopback = None


_HANGUPS: dict[str, tuple[str, str, str, str, str]] = {
    # scenario: CallStatus, HangupCause, HangupCauseCode, HangupCauseName, HangupSource
    "completed": ("completed", "NORMAL_CLEARING", "4000", "Normal Hangup", "Call recipient"),
    "busy": ("busy", "USER_BUSY", "3010", "Busy Line", "Call recipient"),
    "no-answer": ("no-answer", "NO_ANSWER", "3000", "No Answer", "Carrier"),
    "failed": ("failed", "UNALLOCATED_NUMBER", "2000", "Invalid Destination Address", "Carrier"),
    "voicemail": ("completed", "NORMAL_CLEARING", "4000", "Normal Hangup", "API Request"),
}


def _hangup_fields(scenario: str) -> dict[str, str]:
    status, cause, code, name, source = _HANGUPS[scenario]
    answered = scenario in ("completed", "voicemail")
    return {
        "CallStatus": status,
        "HangupCause": cause,
        "HangupCauseCode": code,
        "HangupCauseName": name,
        "HangupSource": source,
        "Duration": "42" if answered else "0",
        "BillDuration": "60" if answered else "0",
        "BillRate": "0.0085",
        "TotalCost": "0.00850" if answered else "0.00000",
        "StartTime": "2026-03-02 10:00:00",
        "AnswerTime": "2026-03-02 10:00:05" if answered else "",
        "EndTime": "2026-03-02 10:00:47",
    }
