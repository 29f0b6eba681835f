"""The Telnyx Call Control v2 adapter: dial, hang up, answer, fetch recordings.

REST calls follow ``reference/telephony.md`` §2: JSON bodies, ``Authorization: Bearer``
with the account's API key, errors as ``{"errors": [{code, title, detail}]}``. Every
failure leaves this module as a :class:`ProviderError` built by
:class:`~voxline.telephony.http.ProviderHttp`, the one place that decides what is retryable.

Every operation takes the :class:`TelnyxCredentials` of its call: the adapter remembers
nothing, so any process can act on any call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from voxline.errors import ProviderError
from voxline.telephony.base import (
    PlacementRequest,
    PlacementState,
    ProviderCall,
    checked_destination,
    checked_digits,
)
from voxline.telephony.credentials import TelnyxCredentials
from voxline.telephony.http import DEFAULT_TIMEOUT_SECONDS, ProviderHttp
from voxline.telephony.telnyx.webhooks import (
    PROVIDER,
    answer_command,
    encode_client_state,
    events_url,
    reject_command,
    stream_fields,
    streaming_start_command,
    timeout_seconds,
)

TELNYX_API = "https://api.telnyx.com/v2"
# How long each key sounds when Voxline presses keys on a call.
DTMF_MILLIS = 250
# Telnyx's answer to a hang-up of a call that already ended: the goal is met.
CALL_ALREADY_ENDED = "90018"
# What a path segment may hold unencoded (RFC 3986 pchar): telnyx-python sends a
# call_control_id's ``v3:…`` as is, and so do we.
_SEGMENT_SAFE = "!$&'()*+,;=:@"


def _segment(value: str) -> str:
    """``value`` percent-encoded as one path segment."""
    return quote(value, safe=_SEGMENT_SAFE)


def _error_text(response: httpx.Response) -> tuple[str, str | None]:
    """Telnyx's title and detail (which never echo the API key) and the first error's code."""
    status = response.status_code
    code: str | None = None
    text = ""
    try:
        errors = json.loads(response.content).get("errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
        if isinstance(first, dict):
            code = str(first["code"]) if first.get("code") is not None else None
            parts = [str(first[k]) for k in ("title", "detail") if first.get(k)]
            text = ": ".join(parts)
    except (ValueError, AttributeError):
        pass
    verb = "failed" if status >= 500 else "rejected the request"
    return f"Telnyx {verb} (HTTP {status})" + (f": {text}" if text else ""), code


class TelnyxClient:
    """:class:`~voxline.telephony.base.TelephonyProvider` for Telnyx Call Control v2.

    Stateless: each operation uses the API key of the call it is given.
    ``public_base_url`` is where Telnyx reaches Voxline (webhooks and the media socket).
    ``base_url``, ``http`` and ``transport`` exist so tests can point it at an emulator.
    ``stream_auth_token`` maps a call id to the token Telnyx presents when it opens the
    media socket (``x-telnyx-streaming-auth-token``); None sends no token.
    """

    name = PROVIDER

    def __init__(
        self,
        *,
        public_base_url: str,
        base_url: str = TELNYX_API,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        answering_machine_detection: str = "detect",
        record: bool = False,
        stream_auth_token: Callable[[str], str] | None = None,
    ) -> None:
        self._public_base_url = public_base_url.rstrip("/")
        self._base_url = base_url.rstrip("/")
        self._http = ProviderHttp(
            PROVIDER,
            label="Telnyx",
            error_text=_error_text,
            http=http,
            transport=transport,
            timeout_seconds=timeout_seconds,
        )
        self._amd = answering_machine_detection
        self._record = record
        self._stream_token = stream_auth_token

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- TelephonyProvider -------------------------------------------------------------

    async def place_call(self, request: PlacementRequest) -> str:
        """Dial ``request.to_number``; returns Telnyx's ``call_control_id``.

        Events go to ``/webhooks/telnyx/events?call_id=…`` and the audio streams both ways
        over ``/media/telnyx?call_id=…``; answering-machine detection is on.
        """
        credentials = self._account(request.credentials)
        if not credentials.connection_id:
            raise self._http.error(
                "The Telnyx credential has no connection_id (the Call Control App to dial from)"
            )
        token = self._stream_token(request.call_id) if self._stream_token else None
        body: dict[str, Any] = {
            "connection_id": credentials.connection_id,
            "to": request.to_number,
            "from": request.from_number,
            "timeout_secs": timeout_seconds(request.join_timeout_seconds),
            "webhook_url": events_url(self._public_base_url, request.call_id),
            "webhook_url_method": "POST",
            # A voicemail drop waits for the beep.
            "answering_machine_detection": "detect_beep" if request.leave_voicemail else self._amd,
            "client_state": encode_client_state(request.call_id),
            # Telnyx's idempotency key: a retried dial should not ring twice. Whether Telnyx
            # dedupes dials (not just commands on a live call) is undocumented.
            "command_id": request.call_id,
            **stream_fields(self._public_base_url, request.call_id, token),
        }
        if self._record:
            body |= {"record": "record-from-answer", "record_channels": "dual"}
        data = await self._send("POST", "/calls", credentials, body)
        call_control_id = data.get("call_control_id")
        if not isinstance(call_control_id, str) or not call_control_id:
            raise self._http.error("Telnyx accepted the call but returned no call_control_id")
        return call_control_id

    async def hangup(self, call: ProviderCall) -> None:
        """Hang up; a call that already ended counts as hung up."""
        try:
            await self.command(call, "hangup", {})
        except ProviderError as exc:
            if exc.provider_code != CALL_ALREADY_ENDED:
                raise

    async def placement_state(self, call: ProviderCall) -> PlacementState:
        """PLACED when Telnyx knows the call's ``call_control_id``; UNKNOWN otherwise,
        because Telnyx cannot look a call up by our id."""
        if not call.provider_call_id:
            return PlacementState.UNKNOWN
        try:
            await self._send(
                "GET", f"/calls/{_segment(call.provider_call_id)}", self._account(call.credentials)
            )
        except ProviderError:
            return PlacementState.UNKNOWN
        return PlacementState.PLACED

    async def recording_url(self, call: ProviderCall) -> str | None:
        """A download link (mp3, else wav) of the call's recording, or None if it has none.

        Telnyx lists recordings by call leg, which ``GET /calls/{id}`` names. Links expire
        after 10 minutes, so fetch one right before use.
        """
        credentials = self._account(call.credentials)
        found = await self._send("GET", f"/calls/{_segment(self._id(call))}", credentials)
        leg = found.get("call_leg_id")
        if not isinstance(leg, str) or not leg:
            return None
        listing = await self._send_raw(
            "GET", "/recordings", credentials, params={"filter[call_leg_id]": leg}
        )
        for recording in listing.get("data") or []:
            urls = recording.get("download_urls") if isinstance(recording, dict) else None
            if isinstance(urls, dict):
                for kind in ("mp3", "wav"):
                    if isinstance(urls.get(kind), str) and urls[kind]:
                        return str(urls[kind])
        return None

    async def send_digits(self, call: ProviderCall, digits: str) -> bool:
        """Press keys with the ``send_dtmf`` command (250 ms each)."""
        body = {"digits": checked_digits(PROVIDER, digits), "duration_millis": DTMF_MILLIS}
        await self.command(call, "send_dtmf", body)
        return True

    async def transfer(self, call: ProviderCall, destination: str) -> None:
        """Hand the contact to ``destination`` with the ``transfer`` command."""
        await self.command(call, "transfer", {"to": checked_destination(PROVIDER, destination)})

    # -- Commands ----------------------------------------------------------------------

    async def command(self, call: ProviderCall, action: str, body: Mapping[str, Any]) -> None:
        """Send ``POST /calls/{id}/actions/{action}`` with ``body``."""
        path = f"/calls/{_segment(self._id(call))}/actions/{action}"
        await self._send("POST", path, self._account(call.credentials), dict(body))

    async def answer(self, call: ProviderCall) -> None:
        """Answer an inbound call and stream it to Voxline as our call ``call.call_id``.

        AnswerCall cannot carry a stream token, so a call whose stream must present one is
        answered without a stream and then streamed with ``streaming_start``.
        """
        token = self._stream_token(call.call_id) if self._stream_token else None
        body = answer_command(self._public_base_url, call.call_id, stream=token is None)
        await self.command(call, "answer", body)
        if token is not None:
            start = streaming_start_command(
                self._public_base_url, call.call_id, stream_auth_token=token
            )
            await self.command(call, "streaming_start", start)

    async def reject(self, call: ProviderCall) -> None:
        """Reject an inbound call to a number no agent serves."""
        await self.command(call, "reject", reject_command())

    # -- Internals ---------------------------------------------------------------------

    def _account(self, credentials: object) -> TelnyxCredentials:
        if not isinstance(credentials, TelnyxCredentials):
            raise self._http.error("The call's number has no Telnyx credential")
        return credentials

    def _id(self, call: ProviderCall) -> str:
        if not call.provider_call_id:
            raise self._http.error("Telnyx has not named this call yet")
        return call.provider_call_id

    async def _send(
        self,
        method: str,
        path: str,
        credentials: TelnyxCredentials,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The ``data`` object of a successful response."""
        document = await self._send_raw(method, path, credentials, body=body)
        data = document.get("data")
        return data if isinstance(data, dict) else {}

    async def _send_raw(
        self,
        method: str,
        path: str,
        credentials: TelnyxCredentials,
        *,
        body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The JSON document of a successful response; every failure as ProviderError."""
        response = await self._http.request(
            method,
            f"{self._base_url}{path}",
            json=body,
            params=params,
            headers={
                "Authorization": f"Bearer {credentials.api_key}",
                "Accept": "application/json",
            },
        )
        return self._http.json_object(response)
