"""A Twilio Programmable Voice emulator on loopback, for testing the Twilio adapter.

A real HTTP server (Starlette under uvicorn, started inside the test's event loop on a free
port) that checks requests as Twilio's 2010-04-01 API does (``reference/telephony.md`` §1):

- HTTP Basic ``AccountSid:AuthToken`` matching the account in the path (else 401, 20003);
- ``POST /Accounts/{AC}/Calls.json``: form-encoded, ``To``/``From`` in E.164, exactly one
  of ``Url``/``Twiml``/``ApplicationSid``, TwiML that parses and fits 4000 characters,
  ``StatusCallbackEvent`` values, ``Timeout`` 1 to 600, ``MachineDetection`` and ``AsyncAmd``
  values; answers 201 with the Call JSON (status ``queued``);
- ``GET``/``POST /Accounts/{AC}/Calls/{CA}.json`` (fetch, or hang up with ``Status``);
- ``GET /Accounts/{AC}/Calls/{CA}/Recordings.json``;
- errors in Twilio's legacy shape ``{code, message, more_info, status}``; the next answers
  can be forced to fail (:meth:`TwilioEmulator.fail_next`) or stall (:meth:`stall_next`).

:meth:`TwilioEmulator.callbacks` produces the signed status callbacks Twilio would post for
a scenario, in order. Signing is written here independently of Voxline's code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.loopback import LoopbackServer

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fedcba9876543210" * 2
E164 = re.compile(r"\+[1-9]\d{1,14}")
CALLBACK_EVENTS = {"initiated", "ringing", "answered", "completed"}
SCENARIOS = ("completed", "busy", "no-answer", "failed", "voicemail", "canceled")


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    text = url + "".join(k + v for k in sorted(grouped) for v in sorted(grouped[k]))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status)


@dataclass
class Failure:
    status: int
    code: int = 20500
    message: str = "An internal server error has occurred"
    stall_seconds: float = 0.0


@dataclass
class SignedCallback:
    url: str
    headers: dict[str, str]
    body: str  # form-encoded

    @property
    def params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body, keep_blank_values=True)


@dataclass
class EmulatedCall:
    sid: str
    form: list[tuple[str, str]]
    status: str = "queued"
    recordings: list[dict[str, Any]] = field(default_factory=list)
    # Every update of the live call (POST to the call), and whom a <Dial> bridged it to.
    updates: list[list[tuple[str, str]]] = field(default_factory=list)
    bridged_to: str | None = None

    def first(self, name: str) -> str | None:
        return next((v for k, v in self.form if k == name), None)

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.form if k == name]


def _call_json(call: EmulatedCall) -> dict[str, Any]:
    uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call.sid}.json"
    now = format_datetime(datetime.now(UTC))
    return {
        "sid": call.sid,
        "account_sid": ACCOUNT_SID,
        "to": call.first("To"),
        "from": call.first("From"),
        "status": call.status,
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": now,
        "date_updated": now,
        "start_time": None,
        "end_time": None,
        "duration": None,
        "price": None,
        "answered_by": None,
        "uri": uri,
        "subresource_uris": {"recordings": uri.replace(".json", "/Recordings.json")},
    }


def _placement_problem(form: list[tuple[str, str]]) -> tuple[int, str] | None:
    """Twilio's error code and message for a bad create-call form, or None."""
    values = dict(form)
    if not values.get("To"):
        return 21201, "No 'To' number is specified"
    if not E164.fullmatch(values["To"]):
        return 21211, "Invalid 'To' Phone Number"
    if not values.get("From"):
        return 21213, "No 'From' number is specified"
    if not E164.fullmatch(values["From"]):
        return 21212, "Invalid 'From' Phone Number"
    sources = [key for key in ("Url", "Twiml", "ApplicationSid") if values.get(key)]
    if len(sources) != 1:
        return 21205, "Exactly one of Url, Twiml or ApplicationSid is required"
    twiml = values.get("Twiml")
    if twiml is not None:
        if len(twiml) > 4000:
            return 21205, "Twiml exceeds 4000 characters"
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError:
            return 12100, "Document parse failure"
        if root.tag != "Response":
            return 12100, "Document root must be Response"
    for key in ("StatusCallback", "AsyncAmdStatusCallback", "Url"):
        if key in values and not values[key].startswith(("http://", "https://")):
            return 21609, f"Invalid {key}"
    for name, value in form:
        if name == "StatusCallbackEvent" and value not in CALLBACK_EVENTS:
            return 21626, f"Invalid StatusCallbackEvent {value}"
        if name.endswith("Method") and value not in ("GET", "POST"):
            return 21207, f"Invalid {name}"
    timeout = values.get("Timeout")
    if timeout is not None and not (timeout.isdigit() and 1 <= int(timeout) <= 600):
        return 21210, "Timeout must be an integer between 1 and 600"
    if values.get("MachineDetection", "Enable") not in ("Enable", "DetectMessageEnd"):
        return 21620, "Invalid MachineDetection"
    if values.get("AsyncAmd", "false") not in ("true", "false"):
        return 21620, "AsyncAmd must be true or false"
    return None


class TwilioEmulator:
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.calls: dict[str, EmulatedCall] = {}
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.failures: deque[Failure] = deque()
        self.base_url = ""
        self._loopback: LoopbackServer | None = None
        prefix = "/2010-04-01/Accounts/{account}"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/Calls.json", self._create, methods=["POST"]),
                Route(f"{prefix}/Calls/{{sid}}.json", self._call, methods=["GET", "POST"]),
                Route(f"{prefix}/Calls/{{sid}}/Recordings.json", self._recordings),
            ]
        )

    # -- test controls --------------------------------------------------------------------

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    def stall_next(self, seconds: float) -> None:
        self.failures.append(Failure(status=200, stall_seconds=seconds))

    def add_recording(self, call_sid: str, status: str = "completed") -> str:
        sid = _sid("RE")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{sid}.json"
        record = {"sid": sid, "call_sid": call_sid, "status": status, "uri": uri}
        self.calls[call_sid].recordings.insert(0, record)
        return sid

    def inbound_call(self, caller: str, number: str) -> str:
        """A call a contact placed to one of the account's numbers, answered and live;
        returns its CallSid."""
        call = EmulatedCall(_sid("CA"), [("From", caller), ("To", number)], "in-progress")
        self.calls[call.sid] = call
        return call.sid

    # -- request handling -----------------------------------------------------------------

    async def _checked(self, request: Request) -> Response | list[tuple[str, str]]:
        """Auth, injected failures and the form; a Response when the request stops here."""
        body = (await request.body()).decode()
        form = parse_qsl(body, keep_blank_values=True)
        self.requests.append((request.method, request.url.path, form))
        if self.failures:
            failure = self.failures.popleft()
            await asyncio.sleep(failure.stall_seconds)
            if failure.status >= 400:
                return _error(failure.status, failure.code, failure.message)
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return _error(401, 20003, "Authenticate")
        if request.path_params["account"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            if not content_type.startswith("application/x-www-form-urlencoded"):
                return _error(400, 20001, "Body must be application/x-www-form-urlencoded")
        return form

    async def _create(self, request: Request) -> Response:
        form = await self._checked(request)
        if isinstance(form, Response):
            return form
        problem = _placement_problem(form)
        if problem is not None:
            return _error(400, *problem)
        call = EmulatedCall(_sid("CA"), form)
        self.calls[call.sid] = call
        return JSONResponse(_call_json(call), 201)

    async def _call(self, request: Request) -> Response:
        form = await self._checked(request)
        if isinstance(form, Response):
            return form
        call = self.calls.get(request.path_params["sid"])
        if call is None:
            return _error(404, 20404, "The requested resource was not found")
        if request.method == "POST":
            call.updates.append(form)
            status = dict(form).get("Status")
            if status not in (None, "completed", "canceled"):
                return _error(400, 21220, "Status must be completed or canceled")
            if status is not None and call.status in ("queued", "ringing", "in-progress"):
                call.status = "canceled" if call.status != "in-progress" else "completed"
            twiml = dict(form).get("Twiml")
            if twiml is not None and call.status == "in-progress":
                # New TwiML replaces the call's: a <Dial> ends the media stream and bridges
                # the caller to the number dialed, who stays on the line.
                dialed = ET.fromstring(twiml).find("./Dial")
                if dialed is not None:
                    number = dialed.find("./Number")
                    sip = dialed.find("./Sip")
                    target = number if number is not None else sip
                    call.bridged_to = (target.text if target is not None else dialed.text) or ""
        return JSONResponse(_call_json(call))

    async def _recordings(self, request: Request) -> Response:
        form = await self._checked(request)
        if isinstance(form, Response):
            return form
        call = self.calls.get(request.path_params["sid"])
        if call is None:
            return _error(404, 20404, "The requested resource was not found")
        return JSONResponse({"recordings": call.recordings, "page": 0, "page_size": 50})

    # -- signed callbacks -----------------------------------------------------------------

    def callbacks(self, call_sid: str, scenario: str) -> list[SignedCallback]:
        """The signed callbacks Twilio posts for ``scenario`` (one of :data:`SCENARIOS`),
        in order: status events the call subscribed to, plus the async AMD verdict."""
        call = self.calls[call_sid]
        subscribed = set(call.all("StatusCallbackEvent")) or {"completed"}
        steps: list[tuple[str, dict[str, str]]] = [("initiated", {"CallStatus": "initiated"})]
        if scenario != "failed":
            steps.append(("ringing", {"CallStatus": "ringing"}))
        if scenario in ("completed", "voicemail"):
            steps.append(("answered", {"CallStatus": "in-progress"}))
        if scenario == "voicemail":
            steps.append(("amd", {"AnsweredBy": "machine_end_beep"}))
        final = {
            "completed": {"CallStatus": "completed", "CallDuration": "42"},
            "voicemail": {"CallStatus": "completed", "CallDuration": "9"},
            "busy": {"CallStatus": "busy", "SipResponseCode": "486"},
            "no-answer": {"CallStatus": "no-answer", "SipResponseCode": "487"},
            "failed": {"CallStatus": "failed", "SipResponseCode": "404", "ErrorCode": "32009"},
            "canceled": {"CallStatus": "canceled", "SipResponseCode": "487"},
        }[scenario]
        steps.append(("completed", final))
        call.status = final["CallStatus"]
        out: list[SignedCallback] = []
        sequence = 0
        for event, fields in steps:
            if event == "amd":
                url = call.first("AsyncAmdStatusCallback")
                params = {"MachineDetectionDuration": "3120", **fields}
            else:
                url = call.first("StatusCallback") if event in subscribed else None
                params = {
                    "CallbackSource": "call-progress-events",
                    "SequenceNumber": str(sequence),
                    "Timestamp": format_datetime(datetime.now(UTC)),
                    "From": call.first("From") or "",
                    "To": call.first("To") or "",
                    "Direction": "outbound-api",
                    "ApiVersion": "2010-04-01",
                    **fields,
                }
                if url:
                    sequence += 1
            if not url:
                continue
            pairs = [("AccountSid", self.account_sid), ("CallSid", call_sid), *params.items()]
            out.append(
                SignedCallback(
                    url,
                    {
                        "Content-Type": "application/x-www-form-urlencoded",
                        "X-Twilio-Signature": twilio_signature(self.auth_token, url, pairs),
                    },
                    urlencode(pairs),
                )
            )
        return out

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL (without ``/2010-04-01``)."""
        self._loopback = LoopbackServer(self.app)
        self.base_url = await self._loopback.start()
        return self.base_url

    async def stop(self) -> None:
        if self._loopback is not None:
            await self._loopback.stop()
            self._loopback = None
