"""The Plivo adapter: places, hangs up and inspects calls over Plivo's Voice REST API.

``reference/telephony.md`` §3 has the wire protocol. Requests are JSON with HTTP Basic auth
(``auth_id:auth_token``) under ``/v1/Account/{auth_id}/``, every path ending in a slash.
An outbound call is placed with Voxline's answer URL (whose Plivo XML starts the media
stream, see :func:`~voxline.telephony.plivo.webhooks.answer_xml`), ring and hangup
callbacks, and asynchronous answering-machine detection, all pointing at
``{public_base_url}/webhooks/plivo/...?call_id=<our call id>``.

Every failure becomes a :class:`ProviderError` in :meth:`PlivoClient._request`, the one place
that maps HTTP statuses and transport errors.
"""

from __future__ import annotations

from typing import Any

import httpx

from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, PlacementState
from voxline.telephony.credentials import PlivoCredentials
from voxline.telephony.plivo.webhooks import PROVIDER, answer_url, events_url

API_BASE_URL = "https://api.plivo.com"
DEFAULT_TIMEOUT_SECONDS = 10.0
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


def _status_error(response: httpx.Response) -> ProviderError:
    status = response.status_code
    return ProviderError(
        f"Plivo answered HTTP {status}: {_error_text(response)}",
        provider=PROVIDER,
        # A refused request fails the same way again, except a timeout or a rate limit.
        retryable=status >= 500 or status in (408, 429),
        http_status=status,
    )


class PlivoClient:
    """A :class:`~voxline.telephony.base.TelephonyProvider` for Plivo.

    ``credentials`` is the account used when a call gives none. The account that placed a
    call is remembered for :meth:`hangup` and :meth:`recording_url`; after a restart pass it
    explicitly. ``http`` (or just ``transport``) lets tests and the app share a client.
    """

    name = PROVIDER

    def __init__(
        self,
        *,
        public_base_url: str,
        credentials: PlivoCredentials | None = None,
        api_base_url: str = API_BASE_URL,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        machine_detection: bool = True,
    ) -> None:
        self._public_base_url = public_base_url.rstrip("/")
        self._credentials = credentials
        self._api_base_url = api_base_url.rstrip("/")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(transport=transport)
        self._timeout = httpx.Timeout(timeout_seconds)
        self._machine_detection = machine_detection
        self._accounts: dict[str, PlivoCredentials] = {}

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def _account(self, credentials: object | None) -> PlivoCredentials:
        chosen = credentials if credentials is not None else self._credentials
        if not isinstance(chosen, PlivoCredentials):
            raise ProviderError(
                "No Plivo credentials are configured for this call",
                provider=PROVIDER,
                retryable=False,
            )
        return chosen

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
        url = f"{self._api_base_url}/v1/Account/{account.auth_id}/{path}"
        try:
            response = await self._http.request(
                method,
                url,
                json=json,
                params=params,
                auth=(account.auth_id, account.auth_token),
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            # from None: the cause holds the request, and with it the Authorization header.
            raise ProviderError(
                "Plivo did not answer in time", provider=PROVIDER, retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                f"Could not reach Plivo ({type(exc).__name__})", provider=PROVIDER, retryable=True
            ) from None
        if response.is_success or response.status_code in allow:
            return response
        raise _status_error(response)

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
            raise ProviderError(
                "Plivo accepted the call but returned no request_uuid",
                provider=PROVIDER,
                retryable=False,
                http_status=response.status_code,
            )
        self._accounts[request_uuid] = account
        return request_uuid

    async def hangup(
        self, provider_call_id: str, *, credentials: PlivoCredentials | None = None
    ) -> None:
        """Hang up a live call, or cancel one still ringing; a call already gone is fine."""
        account = self._account(credentials or self._accounts.get(provider_call_id))
        for resource in ("Call", "Request"):
            response = await self._request(
                account, "DELETE", f"{resource}/{provider_call_id}/", allow=(404,)
            )
            if response.status_code != 404:
                break
        self._accounts.pop(provider_call_id, None)

    async def placement_state(self, call_id: str) -> PlacementState:
        """Plivo cannot look calls up by our id, so recovery cannot learn anything here."""
        return PlacementState.UNKNOWN

    async def recording_url(
        self, provider_call_id: str, *, credentials: PlivoCredentials | None = None
    ) -> str | None:
        """The URL of the call's first recording, or None when it has none."""
        account = self._account(credentials or self._accounts.get(provider_call_id))
        response = await self._request(
            account, "GET", "Recording/", params={"call_uuid": provider_call_id}, allow=(404,)
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
