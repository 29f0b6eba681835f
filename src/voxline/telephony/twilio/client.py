"""The Twilio adapter: Programmable Voice REST API (2010-04-01) over httpx.

Placing a call sends the TwiML inline (``<Connect><Stream>`` to Voxline's media WebSocket),
subscribes to every progress callback and turns on asynchronous answering-machine detection,
so the stream opens at once and the verdict arrives later as a callback
(``reference/telephony.md`` §1.1, §1.6).

Every failure leaves through :class:`~voxline.telephony.http.ProviderHttp`, the one place
that decides what is retryable; Twilio only says how its error bodies read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from voxline.errors import ProviderError
from voxline.telephony.base import (
    PlacementRequest,
    PlacementState,
    ProviderCall,
    checked_destination,
    checked_digits,
)
from voxline.telephony.credentials import TwilioCredentials
from voxline.telephony.http import DEFAULT_TIMEOUT_SECONDS, ProviderHttp
from voxline.telephony.twilio.webhooks import PROVIDER, dial_twiml, events_url, stream_twiml

API_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
MAX_RING_SECONDS = 600

Form = Sequence[tuple[str, str]]


def _error_text(response: httpx.Response) -> tuple[str, str | None]:
    """Twilio's message and code from an error answer."""
    code: str | None = None
    message = response.reason_phrase or "no message"
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        if body.get("code") is not None:
            code = str(body["code"])
        message = str(body.get("message") or body.get("detail") or body.get("title") or message)
    suffix = f" (code {code})" if code else ""
    return f"Twilio answered HTTP {response.status_code}: {message}{suffix}", code


class TwilioClient:
    """:class:`~voxline.telephony.base.TelephonyProvider` for Twilio.

    Stateless: each operation uses the account of the call it is given. ``stream_token``
    maps a call id to the media token its stream presents (a ``<Parameter>`` of the
    ``<Stream>``); None sends none.
    """

    name = PROVIDER

    def __init__(
        self,
        *,
        public_base_url: str,
        base_url: str = API_BASE_URL,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        record: bool = False,
        stream_token: Callable[[str], str] | None = None,
    ) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self._base_url = base_url.rstrip("/")
        self._http = ProviderHttp(
            PROVIDER,
            label="Twilio",
            error_text=_error_text,
            http=http,
            transport=transport,
            timeout_seconds=timeout_seconds,
        )
        self._record = record
        self._stream_token = stream_token

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- requests -------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        credentials: TwilioCredentials,
        path: str,
        form: Form | None = None,
    ) -> httpx.Response:
        """Send one request; any failure comes back as :class:`ProviderError`."""
        return await self._http.request(
            method,
            f"{self._base_url}/{API_VERSION}/Accounts/{credentials.account_sid}/{path}",
            # Encoded by hand: repeated keys (StatusCallbackEvent) are how Twilio takes a list.
            content=None if form is None else urlencode(list(form)).encode(),
            headers=_headers(form),
            auth=(credentials.account_sid, credentials.auth_token),
        )

    def _account(self, credentials: object) -> TwilioCredentials:
        if not isinstance(credentials, TwilioCredentials):
            raise self._http.error("A Twilio call needs Twilio credentials")
        return credentials

    def _sid(self, call: ProviderCall) -> str:
        if not call.provider_call_id:
            raise self._http.error("Twilio has not named this call yet")
        return call.provider_call_id

    # -- the TelephonyProvider port -------------------------------------------------------

    def placement_form(self, request: PlacementRequest) -> list[tuple[str, str]]:
        """The form Twilio receives to dial ``request`` (exposed for inspection)."""
        callback = events_url(self.public_base_url, request.call_id)
        ring = min(MAX_RING_SECONDS, max(1, round(request.join_timeout_seconds)))
        token = self._stream_token(request.call_id) if self._stream_token else None
        form = [
            ("To", request.to_number),
            ("From", request.from_number),
            ("Twiml", stream_twiml(self.public_base_url, request.call_id, token)),
            ("StatusCallback", callback),
            ("StatusCallbackMethod", "POST"),
            *(("StatusCallbackEvent", event) for event in STATUS_EVENTS),
            ("Timeout", str(ring)),
            # A voicemail drop waits for the end of the greeting (the beep).
            ("MachineDetection", "DetectMessageEnd" if request.leave_voicemail else "Enable"),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", callback),
            ("AsyncAmdStatusCallbackMethod", "POST"),
        ]
        if self._record:
            form += [("Record", "true"), ("RecordingChannels", "dual")]
        return form

    async def place_call(self, request: PlacementRequest) -> str:
        """Dial ``request.to_number``; returns Twilio's call SID (``CA…``)."""
        credentials = self._account(request.credentials)
        response = await self._request(
            "POST", credentials, "Calls.json", self.placement_form(request)
        )
        sid = self._http.json_object(response).get("sid")
        if not isinstance(sid, str) or not sid:
            raise self._http.error(
                "Twilio accepted the call but returned no call SID",
                http_status=response.status_code,
            )
        return sid

    async def hangup(self, call: ProviderCall) -> None:
        """End the call whatever its state; a call Twilio no longer knows counts as ended."""
        credentials, sid = self._account(call.credentials), self._sid(call)
        try:
            await self._request("POST", credentials, f"Calls/{sid}.json", [("Status", "completed")])
        except ProviderError as exc:
            if exc.http_status != 404:
                raise

    async def placement_state(self, call: ProviderCall) -> PlacementState:
        """PLACED when Twilio knows the call's SID, NOT_PLACED when it answers that it does
        not; UNKNOWN without a SID (Twilio cannot search calls by our id) or on a failure."""
        if not call.provider_call_id:
            return PlacementState.UNKNOWN
        try:
            await self._request(
                "GET", self._account(call.credentials), f"Calls/{call.provider_call_id}.json"
            )
        except ProviderError as exc:
            if exc.http_status == 404:
                return PlacementState.NOT_PLACED
            return PlacementState.UNKNOWN
        return PlacementState.PLACED

    async def send_digits(self, call: ProviderCall, digits: str) -> bool:
        """False: during ``<Connect><Stream>`` Twilio takes keys only as tones in the call's
        audio. Updating the call with ``<Play digits>`` would replace its TwiML and end the
        stream, and with it the agent."""
        checked_digits(PROVIDER, digits)
        return False

    async def transfer(self, call: ProviderCall, destination: str) -> None:
        """Update the live call with TwiML that dials ``destination``: Twilio ends the media
        stream and bridges the contact there."""
        twiml = dial_twiml(checked_destination(PROVIDER, destination))
        await self._request(
            "POST",
            self._account(call.credentials),
            f"Calls/{self._sid(call)}.json",
            [("Twiml", twiml)],
        )

    async def call_status(self, call: ProviderCall) -> str:
        """Twilio's current status of the call (``queued``, ``in-progress``, ...)."""
        response = await self._request(
            "GET", self._account(call.credentials), f"Calls/{self._sid(call)}.json"
        )
        return str(self._http.json_object(response).get("status", ""))

    async def recording_url(self, call: ProviderCall) -> str | None:
        """The media URL (WAV) of the call's latest completed recording, or None."""
        response = await self._request(
            "GET", self._account(call.credentials), f"Calls/{self._sid(call)}/Recordings.json"
        )
        recordings = self._http.json_object(response).get("recordings")
        if not isinstance(recordings, list):
            return None
        for recording in recordings:  # Twilio lists the newest first
            if not isinstance(recording, dict) or recording.get("status") != "completed":
                continue
            uri = recording.get("uri")
            if isinstance(uri, str) and uri.endswith(".json"):
                return f"{self._base_url}{uri.removesuffix('.json')}.wav"
        return None


def _headers(form: Form | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return headers
