"""A Telnyx Call Control v2 emulator on loopback, for testing the Telnyx adapter.

A real HTTP server (Starlette under uvicorn, started inside the test's event loop on a free
port) that checks requests as Telnyx does (``reference/telephony.md`` §2):

- ``Authorization: Bearer <api key>`` on every request, else 401 with code ``10009``;
- ``POST /v2/calls``: JSON with ``connection_id`` (the app's, else 422 ``10015``), E.164
  ``to``/``from`` (``10016``), ``timeout_secs`` 5 to 600, an http(s) ``webhook_url``, base64
  ``client_state``, a ws(s) ``stream_url`` and known enum values; a repeated ``command_id``
  returns the call it first created;
- ``POST /v2/calls/{id}/actions/{name}`` (404 ``10005`` for an unknown call, 422 ``90018``
  for a command to a call that ended), ``GET /v2/calls/{id}``,
  ``GET /v2/recordings?filter[call_leg_id]=…``;
- errors in Telnyx's ``{"errors": [{code, title, detail, source}]}`` shape, and any status
  can be injected for the next request (or a stall, to test timeouts).

It also produces the webhooks Telnyx would send for a call, in a realistic order for a
scenario, signed with the emulator's own Ed25519 key exactly as Telnyx signs
(``"{timestamp}|{body}"``); :attr:`TelnyxEmulator.public_key` is what an account shows.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.emulators.loopback import LoopbackServer

API_KEY = "KEYemulator_0123456789abcdef"
CONNECTION_ID = "1494404757140276705"
# Where tests pretend Voxline is reachable from Telnyx.
PUBLIC_BASE_URL = "https://voxline.example.com"
E164 = re.compile(r"\+[1-9]\d{1,14}")
ENUMS = {
    "answering_machine_detection": {
        "premium",
        "detect",
        "detect_beep",
        "detect_words",
        "greeting_end",
        "disabled",
    },
    "stream_track": {"inbound_track", "outbound_track", "both_tracks"},
    "stream_codec": {"PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16", "default"},
    "stream_bidirectional_mode": {"mp3", "rtp"},
    "stream_bidirectional_codec": {"PCMU", "PCMA", "G722", "OPUS", "AMR-WB", "L16"},
    "webhook_url_method": {"POST", "GET"},
    "record": {"record-from-answer"},
}
SCENARIOS = ("completed", "busy", "no-answer", "failed", "voicemail")


@dataclass(frozen=True)
class Injected:
    """What the next request gets instead of a normal answer."""

    status: int = 500
    code: str = "10007"
    title: str = "Unexpected error"
    detail: str = "An unexpected error occurred."
    stall_seconds: float = 0.0


@dataclass(frozen=True)
class SignedWebhook:
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class EmulatedCall:
    call_control_id: str
    call_leg_id: str
    call_session_id: str
    direction: str
    request: dict[str, Any]
    alive: bool = True
    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    recording_urls: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, title: str, detail: str, pointer: str | None = None) -> Response:
    error: dict[str, Any] = {
        "code": code,
        "title": title,
        "detail": detail,
        "meta": {"url": f"https://developers.telnyx.com/docs/overview/errors/{code}"},
    }
    if pointer:
        error["source"] = {"pointer": pointer}
    return JSONResponse({"errors": [error]}, status)


def _is_base64(value: object) -> bool:
    try:
        base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return False
    return isinstance(value, str)


def _dial_problem(body: Any, connection_id: str) -> Response | None:
    if not isinstance(body, dict):
        return _error(400, "10015", "Bad Request", "The request body must be a JSON object")
    for name in ("connection_id", "to", "from"):
        if not body.get(name):
            return _error(
                422, "10004", "Missing required parameter", f"'{name}' is required", f"/{name}"
            )
    if body["connection_id"] != connection_id:
        return _error(422, "10015", "Invalid connection_id", "Unknown connection", "/connection_id")
    for name in ("to", "from"):
        if not isinstance(body[name], str) or not E164.fullmatch(body[name]):
            return _error(422, "10016", "Phone number must be in +E.164 format", name, f"/{name}")
    timeout = body.get("timeout_secs", 30)
    if not isinstance(timeout, int) or not 5 <= timeout <= 600:
        return _error(422, "10015", "Bad Request", "timeout_secs must be 5 to 600", "/timeout_secs")
    url = body.get("webhook_url")
    if url is not None and not re.match(r"https?://", str(url)):
        return _error(422, "10015", "Bad Request", "webhook_url must be a URL", "/webhook_url")
    stream = body.get("stream_url")
    if stream is not None and not re.match(r"wss?://", str(stream)):
        return _error(422, "10015", "Bad Request", "stream_url must be ws(s)", "/stream_url")
    if "client_state" in body and not _is_base64(body["client_state"]):
        return _error(422, "10015", "Bad Request", "client_state must be base64", "/client_state")
    for name, allowed in ENUMS.items():
        if name in body and body[name] not in allowed:
            return _error(422, "10015", "Bad Request", f"invalid {name}", f"/{name}")
    return None


class TelnyxEmulator:
    def __init__(self, *, api_key: str = API_KEY, connection_id: str = CONNECTION_ID) -> None:
        self.api_key = api_key
        self.connection_id = connection_id
        self._signing_key = Ed25519PrivateKey.generate()
        self.calls: dict[str, EmulatedCall] = {}
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.injected: deque[Injected] = deque()
        self._by_command_id: dict[str, str] = {}
        self.base_url = ""
        self._loopback: LoopbackServer | None = None
        self.app = Starlette(
            routes=[
                Route("/v2/calls", self._dial, methods=["POST"]),
                Route("/v2/calls/{call_id}", self._call_status, methods=["GET"]),
                Route("/v2/calls/{call_id}/actions/{action}", self._action, methods=["POST"]),
                Route("/v2/recordings", self._recordings, methods=["GET"]),
            ]
        )

    @property
    def public_key(self) -> str:
        """The account's webhook public key: base64 of the raw 32-byte Ed25519 key."""
        raw = self._signing_key.public_key().public_bytes_raw()
        return base64.b64encode(raw).decode()

    def inject(self, *failures: Injected) -> None:
        self.injected.extend(failures)

    # -- REST --------------------------------------------------------------------------

    async def _gate(self, request: Request) -> Response | None:
        body: dict[str, Any] | None = None
        if request.method == "POST":
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
        self.requests.append((request.method, request.url.path, body))
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "10009", "Authentication failed", "Could not understand the key")
        if self.injected:
            failure = self.injected.popleft()
            if failure.stall_seconds:
                await asyncio.sleep(failure.stall_seconds)
            return _error(failure.status, failure.code, failure.title, failure.detail)
        return None

    async def _dial(self, request: Request) -> Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        body = self.requests[-1][2]
        if (problem := _dial_problem(body, self.connection_id)) is not None:
            return problem
        assert body is not None
        command_id = body.get("command_id")
        if command_id and command_id in self._by_command_id:
            return JSONResponse(
                {"data": self._call_json(self.calls[self._by_command_id[command_id]])}
            )
        call = self.add_call("outgoing", body)
        if command_id:
            self._by_command_id[command_id] = call.call_control_id
        return JSONResponse({"data": self._call_json(call) | {"is_alive": False}})

    async def _call_status(self, request: Request) -> Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        call = self.calls.get(request.path_params["call_id"])
        if call is None:
            return _error(404, "10005", "Resource not found", "Call not found")
        return JSONResponse({"data": self._call_json(call)})

    async def _action(self, request: Request) -> Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        call = self.calls.get(request.path_params["call_id"])
        if call is None:
            return _error(404, "10005", "Resource not found", "Call not found")
        if not call.alive:
            return _error(422, "90018", "Call has already ended", "This call is no longer active")
        action = request.path_params["action"]
        body = self.requests[-1][2] or {}
        if action == "reject" and body.get("cause") not in ("CALL_REJECTED", "USER_BUSY"):
            return _error(422, "10004", "Missing required parameter", "cause", "/cause")
        if "client_state" in body and not _is_base64(body["client_state"]):
            return _error(422, "10015", "Bad Request", "client_state must be base64")
        call.commands.append((action, body))
        if action in ("hangup", "reject"):
            call.alive = False
        return JSONResponse({"data": {"result": "ok"}})

    async def _recordings(self, request: Request) -> Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        leg = request.query_params.get("filter[call_leg_id]")
        found = [
            {
                "id": str(uuid.uuid4()),
                "record_type": "recording",
                "call_control_id": call.call_control_id,
                "call_leg_id": call.call_leg_id,
                "call_session_id": call.call_session_id,
                "status": "completed",
                "channels": "dual",
                "download_urls": call.recording_urls,
            }
            for call in self.calls.values()
            if call.recording_urls and (leg is None or call.call_leg_id == leg)
        ]
        meta = {"total_results": len(found), "page_number": 1, "page_size": 20}
        return JSONResponse({"data": found, "meta": meta})

    def add_call(self, direction: str, body: dict[str, Any]) -> EmulatedCall:
        """A call Telnyx knows of, as if dialed (``outgoing``) or arriving (``incoming``)."""
        call = EmulatedCall(
            call_control_id=f"v3:{base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()}",
            call_leg_id=str(uuid.uuid4()),
            call_session_id=str(uuid.uuid4()),
            direction=direction,
            request=body,
        )
        self.calls[call.call_control_id] = call
        return call

    @staticmethod
    def _call_json(call: EmulatedCall) -> dict[str, Any]:
        return {
            "record_type": "call",
            "call_control_id": call.call_control_id,
            "call_leg_id": call.call_leg_id,
            "call_session_id": call.call_session_id,
            "is_alive": call.alive,
            "client_state": call.request.get("client_state"),
        }

    # -- Webhooks ----------------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int) -> dict[str, str]:
        """The headers Telnyx sends with ``body``: an Ed25519 signature of
        ``"{timestamp}|{body}"``, base64, and the timestamp."""
        signature = self._signing_key.sign(f"{timestamp}|".encode() + body)
        return {
            "content-type": "application/json",
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": str(timestamp),
        }

    def _webhook(
        self, call: EmulatedCall, event_type: str, at: datetime, now: int, **payload: Any
    ) -> SignedWebhook:
        url = call.request.get("webhook_url") or "https://voxline.invalid/webhooks/telnyx/events"
        document = {
            "data": {
                "record_type": "event",
                "event_type": event_type,
                "id": str(uuid.uuid4()),
                "occurred_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "payload": {
                    "call_control_id": call.call_control_id,
                    "call_leg_id": call.call_leg_id,
                    "call_session_id": call.call_session_id,
                    "connection_id": self.connection_id,
                    "client_state": call.request.get("client_state"),
                    "from": call.request.get("from"),
                    "to": call.request.get("to"),
                    **payload,
                },
            },
            "meta": {"attempt": 1, "delivered_to": url},
        }
        body = json.dumps(document, separators=(",", ":")).encode()
        return SignedWebhook(url, self.sign(body, now), body)

    def scenario(
        self, call_control_id: str, scenario: str, *, now: int | None = None
    ) -> list[SignedWebhook]:
        """The webhooks of a dialed call playing out ``scenario`` (one of
        :data:`SCENARIOS`), in Telnyx's order; the call ends in the emulator too."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        call = self.calls[call_control_id]
        sent_at = int(time.time()) if now is None else now
        start = datetime.fromtimestamp(sent_at, UTC)
        at = [start + timedelta(seconds=s) for s in range(0, 40, 2)]
        hooks = [
            self._webhook(
                call, "call.initiated", at[0], sent_at, direction="outgoing", state="bridging"
            )
        ]

        def hangup(when: datetime, cause: str, source: str, sip: str) -> SignedWebhook:
            return self._webhook(
                call,
                "call.hangup",
                when,
                sent_at,
                state="hangup",
                hangup_cause=cause,
                hangup_source=source,
                sip_hangup_cause=sip,
                start_time=at[0].isoformat(),
                end_time=when.isoformat(),
            )

        if scenario in ("completed", "voicemail"):
            hooks.append(self._webhook(call, "call.answered", at[1], sent_at, state="answered"))
            result = "human" if scenario == "completed" else "machine"
            hooks.append(
                self._webhook(call, "call.machine.detection.ended", at[2], sent_at, result=result)
            )
            source = "callee" if scenario == "completed" else "caller"
            hooks.append(hangup(at[9], "normal_clearing", source, "200"))
            if call.request.get("record"):
                call.recording_urls = {
                    "mp3": f"https://s3.emulator.invalid/{call.call_leg_id}.mp3",
                    "wav": f"https://s3.emulator.invalid/{call.call_leg_id}.wav",
                }
                hooks.append(
                    self._webhook(
                        call,
                        "call.recording.saved",
                        at[10],
                        sent_at,
                        channels="dual",
                        recording_urls=call.recording_urls,
                        public_recording_urls={"mp3": None, "wav": None},
                    )
                )
        elif scenario == "busy":
            hooks.append(hangup(at[1], "user_busy", "callee", "486"))
        elif scenario == "no-answer":
            hooks.append(hangup(at[15], "timeout", "unknown", "487"))
        else:
            hooks.append(hangup(at[1], "not_found", "unknown", "404"))
        call.alive = False
        return hooks

    def inbound(
        self, from_number: str, to_number: str, webhook_url: str, *, now: int | None = None
    ) -> tuple[EmulatedCall, SignedWebhook]:
        """A call arriving on ``to_number``: the parked call and its ``call.initiated``."""
        call = self.add_call(
            "incoming", {"from": from_number, "to": to_number, "webhook_url": webhook_url}
        )
        sent_at = int(time.time()) if now is None else now
        at = datetime.fromtimestamp(sent_at, UTC)
        hook = self._webhook(
            call, "call.initiated", at, sent_at, direction="incoming", state="parked"
        )
        return call, hook

    @staticmethod
    async def deliver(hooks: list[SignedWebhook], client: httpx.AsyncClient) -> list[int]:
        """POST each webhook in order (as Telnyx would); returns the response statuses."""
        statuses = []
        for hook in hooks:
            response = await client.post(hook.url, content=hook.body, headers=hook.headers)
            statuses.append(response.status_code)
        return statuses

    # -- Server ------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on a free loopback port; returns the API base URL (``.../v2``)."""
        self._loopback = LoopbackServer(self.app)
        self.base_url = await self._loopback.start() + "/v2"
        return self.base_url

    async def stop(self) -> None:
        if self._loopback is not None:
            await self._loopback.stop()
            self._loopback = None
