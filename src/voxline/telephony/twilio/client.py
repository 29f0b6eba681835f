"""The Twilio adapter: Programmable Voice REST API (2010-04-01) over httpx.

Placing a call sends the TwiML inline (``<Connect><Stream>`` to Voxline's media WebSocket),
subscribes to every progress callback and turns on asynchronous answering-machine detection,
so the stream opens at once and the verdict arrives later as a callback
(``reference/telephony.md`` §1.1, §1.6).

Every failure leaves through :func:`_error`: 4xx are not retryable except 408 and 429; 5xx,
timeouts and connection errors are. httpx errors are chained ``from None`` because the
request they carry holds the Basic credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, PlacementState
from voxline.telephony.credentials import TwilioCredentials
from voxline.telephony.twilio.webhooks import PROVIDER, events_url, stream_twiml

API_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
DEFAULT_TIMEOUT_SECONDS = 10.0
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")
MAX_RING_SECONDS = 600
GONE_CODE = 20404

Form = Sequence[tuple[str, str]]


def _error(response: httpx.Response) -> ProviderError:
    """The ProviderError for a non-2xx Twilio answer, with Twilio's code and message."""
    status = response.status_code
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
    retryable = status >= 500 or status in (408, 429)
    suffix = f" (code {code})" if code else ""
    return ProviderError(
        f"Twilio answered HTTP {status}: {message}{suffix}",
        provider=PROVIDER,
        retryable=retryable,
        provider_code=code,
        http_status=status,
    )


class TwilioClient:
    """:class:`~voxline.telephony.base.TelephonyProvider` for Twilio.

    ``credentials`` is the account used when an operation is not tied to a placement this
    client made (hang-up or recovery after a restart); placements use the credentials of
    their request and are remembered per call. ``stream_token`` maps a call id to the
    media token its stream presents (a ``<Parameter>`` of the ``<Stream>``); None sends none.
    """

    name = PROVIDER

    def __init__(
        self,
        *,
        public_base_url: str,
        credentials: TwilioCredentials | None = None,
        base_url: str = API_BASE_URL,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        record: bool = False,
        stream_token: Callable[[str], str] | None = None,
    ) -> None:
        self.public_base_url = public_base_url.rstrip("/")
        self._credentials = credentials
        self._base_url = base_url.rstrip("/")
        self._timeout = httpx.Timeout(timeout_seconds)
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(transport=transport, timeout=self._timeout)
        self._record = record
        self._stream_token = stream_token
        # provider call id → account, and our call id → provider call id, for this process.
        self._accounts: dict[str, TwilioCredentials] = {}
        self._placed: dict[str, str] = {}

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # -- requests -------------------------------------------------------------------------

    def _account_url(self, credentials: TwilioCredentials, path: str) -> str:
        return f"{self._base_url}/{API_VERSION}/Accounts/{credentials.account_sid}/{path}"

    async def _request(
        self,
        method: str,
        credentials: TwilioCredentials,
        path: str,
        form: Form | None = None,
    ) -> httpx.Response:
        """Send one request; any failure comes back as :class:`ProviderError`."""
        try:
            response = await self._http.request(
                method,
                self._account_url(credentials, path),
                # Encoded by hand: repeated keys (StatusCallbackEvent) are how Twilio takes a list.
                content=None if form is None else urlencode(list(form)).encode(),
                headers=_headers(form),
                auth=(credentials.account_sid, credentials.auth_token),
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            raise ProviderError(
                "Twilio did not answer in time", provider=PROVIDER, retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                f"Could not reach Twilio ({type(exc).__name__})", provider=PROVIDER, retryable=True
            ) from None
        if response.is_error:
            raise _error(response)
        return response

    def _credentials_for(self, provider_call_id: str | None = None) -> TwilioCredentials:
        credentials = self._accounts.get(provider_call_id or "") or self._credentials
        if credentials is None:
            raise ProviderError(
                "No Twilio credentials are available for this call",
                provider=PROVIDER,
                retryable=False,
            )
        return credentials

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
            ("MachineDetection", "Enable"),
            ("AsyncAmd", "true"),
            ("AsyncAmdStatusCallback", callback),
            ("AsyncAmdStatusCallbackMethod", "POST"),
        ]
        if self._record:
            form += [("Record", "true"), ("RecordingChannels", "dual")]
        return form

    async def place_call(self, request: PlacementRequest) -> str:
        """Dial ``request.to_number``; returns Twilio's call SID (``CA…``)."""
        credentials = request.credentials
        if not isinstance(credentials, TwilioCredentials):
            raise ProviderError(
                "A Twilio call needs Twilio credentials", provider=PROVIDER, retryable=False
            )
        response = await self._request(
            "POST", credentials, "Calls.json", self.placement_form(request)
        )
        sid = _json(response).get("sid")
        if not isinstance(sid, str) or not sid:
            raise ProviderError(
                "Twilio accepted the call but returned no call SID",
                provider=PROVIDER,
                retryable=False,
                http_status=response.status_code,
            )
        self._accounts[sid] = credentials
        self._placed[request.call_id] = sid
        return sid

    async def hangup(self, provider_call_id: str) -> None:
        """End the call whatever its state; a call Twilio no longer knows counts as ended."""
        credentials = self._credentials_for(provider_call_id)
        try:
            await self._request(
                "POST", credentials, f"Calls/{provider_call_id}.json", [("Status", "completed")]
            )
        except ProviderError as exc:
            if exc.http_status != 404:
                raise

    async def placement_state(self, call_id: str) -> PlacementState:
        """PLACED if this process dialed ``call_id`` and Twilio knows the call.

        Twilio cannot search calls by our id, so after a restart the answer is UNKNOWN.
        """
        sid = self._placed.get(call_id)
        if sid is None:
            return PlacementState.UNKNOWN
        try:
            await self._request("GET", self._credentials_for(sid), f"Calls/{sid}.json")
        except ProviderError as exc:
            if exc.http_status == 404:
                return PlacementState.NOT_PLACED
            return PlacementState.UNKNOWN
        return PlacementState.PLACED

    async def call_status(self, provider_call_id: str) -> str:
        """Twilio's current status of the call (``queued``, ``in-progress``, ...)."""
        response = await self._request(
            "GET", self._credentials_for(provider_call_id), f"Calls/{provider_call_id}.json"
        )
        return str(_json(response).get("status", ""))

    async def recording_url(
        self, provider_call_id: str, *, credentials: TwilioCredentials | None = None
    ) -> str | None:
        """The media URL (WAV) of the call's latest completed recording, or None."""
        response = await self._request(
            "GET",
            credentials or self._credentials_for(provider_call_id),
            f"Calls/{provider_call_id}/Recordings.json",
        )
        recordings = _json(response).get("recordings")
        if not isinstance(recordings, list):
            return None
        for recording in recordings:  # Twilio lists the newest first
            if not isinstance(recording, dict) or recording.get("status") != "completed":
                continue
            uri = recording.get("uri")
            if isinstance(uri, str) and uri.endswith(".json"):
                return f"{self._base_url}{uri.removesuffix('.json')}.wav"
        return None


def _json(response: httpx.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise ProviderError(
            "Twilio answered with a body that is not JSON",
            provider=PROVIDER,
            retryable=False,
            http_status=response.status_code,
        ) from None
    if not isinstance(body, dict):
        raise ProviderError(
            "Twilio answered with unexpected JSON",
            provider=PROVIDER,
            retryable=False,
            http_status=response.status_code,
        )
    return body


def _headers(form: Form | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return headers
