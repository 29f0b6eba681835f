"""The Plivo adapter: places, hangs up and inspects calls over Plivo's Voice REST API.

``reference/telephony.md`` §3 has the wire protocol. Requests are JSON with HTTP Basic auth
(``auth_id:auth_token``) under ``/v1/Account/{auth_id}/``, every path ending in a slash.
An outbound call is placed with Voxline's answer URL (whose Plivo XML starts the media
stream, see :func:`~voxline.telephony.plivo.webhooks.answer_xml`), ring and hangup
callbacks, and asynchronous answering-machine detection, all pointing at
``{public_base_url}/webhooks/plivo/...?call_id=<our call id>``.

Every failure becomes a :class:`ProviderError` in
:class:`~voxline.telephony.http.ProviderHttp`, the one place that maps HTTP statuses and
transport errors.
"""

from __future__ import annotations

from typing import Any

import httpx

from voxline.telephony.base import (
    PlacementRequest,
    PlacementState,
    ProviderCall,
    checked_destination,
    checked_digits,
)
from voxline.telephony.credentials import PlivoCredentials
from voxline.telephony.http import DEFAULT_TIMEOUT_SECONDS, ProviderHttp
from voxline.telephony.plivo.webhooks import PROVIDER, answer_url, events_url, transfer_url

API_BASE_URL = "https://api.plivo.com"
# Longest provider message copied into an error; Plivo's are one sentence.
_MAX_MESSAGE = 300


def _plivo_number(number: str) -> str:
    """Plivo writes numbers as digits with the country code."""
    return number.removeprefix("+")


def _error_text(response: httpx.Response) -> str:
    """Plivo's ``error`` (a sentence, or an object of per-field sentences), else the reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = "; ".join(f"{key}: {value}" for key, value in sorted(error.items()))
    elif error:
        text = str(error)
    else:
        text = response.reason_phrase or "no error message"
    return text[:_MAX_MESSAGE]


def _error_message(response: httpx.Response) -> tuple[str, str | None]:
    return f"Plivo answered HTTP {response.status_code}: {_error_text(response)}", None


class PlivoClient:
    """A :class:`~voxline.telephony.base.TelephonyProvider` for Plivo.

    Stateless: each operation uses the account of the call it is given. ``http`` (or just
    ``transport``) lets tests and the app share a client.
    """

    name = PROVIDER

    def __init__(
        self,
        *,
        public_base_url: str,
        api_base_url: str = API_BASE_URL,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        machine_detection: bool = True,
    ) -> None:
        self._public_base_url = public_base_url.rstrip("/")
        self._api_base_url = api_base_url.rstrip("/")
        self._http = ProviderHttp(
            PROVIDER,
            label="Plivo",
            error_text=_error_message,
            http=http,
            transport=transport,
            timeout_seconds=timeout_seconds,
        )
        self._machine_detection = machine_detection

    async def aclose(self) -> None:
        await self._http.aclose()

    def _account(self, credentials: object | None) -> PlivoCredentials:
        if not isinstance(credentials, PlivoCredentials):
            raise self._http.error("No Plivo credentials are configured for this call")
        return credentials

    def _uuid(self, call: ProviderCall) -> str:
        if not call.provider_call_id:
            raise self._http.error("Plivo has not named this call yet")
        return call.provider_call_id

    async def _request(
        self,
        account: PlivoCredentials,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send one request; any status outside 2xx and ``allow`` raises :class:`ProviderError`."""
        return await self._http.request(
            method,
            f"{self._api_base_url}/v1/Account/{account.auth_id}/{path}",
            json=json,
            params=params,
            auth=(account.auth_id, account.auth_token),
            headers={"Accept": "application/json"},
            allow=allow,
        )

    async def place_call(self, request: PlacementRequest) -> str:
        """Dial ``request.to_number``; returns Plivo's ``request_uuid``, which Plivo also uses
        as the ``CallUUID`` of the call it creates."""
        account = self._account(request.credentials)
        events = events_url(self._public_base_url, request.call_id)
        body: dict[str, Any] = {
            "from": _plivo_number(request.from_number),
            "to": _plivo_number(request.to_number),
            "answer_url": answer_url(self._public_base_url, request.call_id),
            "answer_method": "POST",
            "ring_url": events,
            "ring_method": "POST",
            "hangup_url": events,
            "hangup_method": "POST",
            "ring_timeout": max(1, round(request.join_timeout_seconds)),
        }
        if self._machine_detection:
            body |= {
                "machine_detection": "true",
                "machine_detection_url": events,
                "machine_detection_method": "POST",
            }
        response = await self._request(account, "POST", "Call/", json=body)
        try:
            request_uuid = response.json()["request_uuid"]
        except (ValueError, KeyError, TypeError):
            request_uuid = None
        if not isinstance(request_uuid, str) or not request_uuid:
            # The call may exist: not retryable, or a retry could dial the contact twice.
            raise self._http.error(
                "Plivo accepted the call but returned no request_uuid",
                http_status=response.status_code,
            )
        return request_uuid

    async def hangup(self, call: ProviderCall) -> None:
        """Hang up a live call, or cancel one still ringing; a call already gone is fine."""
        account, call_uuid = self._account(call.credentials), self._uuid(call)
        for resource in ("Call", "Request"):
            response = await self._request(
                account, "DELETE", f"{resource}/{call_uuid}/", allow=(404,)
            )
            if response.status_code != 404:
                break

    async def placement_state(self, call: ProviderCall) -> PlacementState:
        """Plivo cannot look calls up by our id, so recovery cannot learn anything here."""
        return PlacementState.UNKNOWN

    async def send_digits(self, call: ProviderCall, digits: str) -> bool:
        """Press keys on the contact's leg (Plivo's "send digits")."""
        body = {"digits": checked_digits(PROVIDER, digits), "leg": "aleg"}
        await self._request(
            self._account(call.credentials), "POST", f"Call/{self._uuid(call)}/DTMF/", json=body
        )
        return True

    async def transfer(self, call: ProviderCall, destination: str) -> None:
        """Transfer the contact's leg to XML (``/webhooks/plivo/transfer``) that dials
        ``destination``; the media stream ends when the leg leaves its answer XML."""
        url = transfer_url(
            self._public_base_url, call.call_id, checked_destination(PROVIDER, destination)
        )
        body = {"legs": "aleg", "aleg_url": url, "aleg_method": "POST"}
        await self._request(
            self._account(call.credentials), "POST", f"Call/{self._uuid(call)}/", json=body
        )

    async def recording_url(self, call: ProviderCall) -> str | None:
        """The URL of the call's first recording, or None when it has none."""
        response = await self._request(
            self._account(call.credentials),
            "GET",
            "Recording/",
            params={"call_uuid": self._uuid(call)},
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        try:
            objects = response.json().get("objects") or []
        except (ValueError, AttributeError):
            objects = []
        for recording in objects:
            url = recording.get("recording_url") if isinstance(recording, dict) else None
            if isinstance(url, str) and url:
                return url
        return None
