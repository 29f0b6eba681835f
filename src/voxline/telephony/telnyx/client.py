"""The Telnyx Call Control v2 adapter: dial, hang up, answer, fetch recordings.

REST calls follow ``reference/telephony.md`` §2: JSON bodies, ``Authorization: Bearer``
with the account's API key, errors as ``{"errors": [{code, title, detail}]}``. Every
failure leaves this module as a :class:`ProviderError` built by :func:`provider_error` or
:meth:`TelnyxClient._send`, the one place that decides what is retryable.

The API key comes from the :class:`TelnyxCredentials` of each placement. Hang-up and the
other per-call commands reuse the credential their call was placed with (remembered here),
or take one explicitly, e.g. after a restart or for an inbound call.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from voxline.errors import ProviderError
from voxline.telephony.base import PlacementRequest, PlacementState
from voxline.telephony.credentials import TelnyxCredentials
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
DEFAULT_TIMEOUT_SECONDS = 10.0
# Telnyx's answer to a hang-up of a call that already ended: the goal is met.
CALL_ALREADY_ENDED = "90018"
# Calls remembered for their credential; older ones need one passed explicitly.
_REMEMBERED_CALLS = 10_000
# What a path segment may hold unencoded (RFC 3986 pchar): telnyx-python sends a
# call_control_id's ``v3:…`` as is, and so do we.
_SEGMENT_SAFE = "!$&'()*+,;=:@"


def _segment(value: str) -> str:
    """``value`` percent-encoded as one path segment."""
    return quote(value, safe=_SEGMENT_SAFE)


def provider_error(status: int, body: bytes) -> ProviderError:
    """The :class:`ProviderError` for a Telnyx error response.

    4xx is final except 408 and 429; 5xx may succeed later. The message carries Telnyx's
    title and detail (which never echo the API key) and the first error's code.
    """
    code: str | None = None
    text = ""
    try:
        errors = json.loads(body).get("errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
        if isinstance(first, dict):
            code = str(first["code"]) if first.get("code") is not None else None
            parts = [str(first[k]) for k in ("title", "detail") if first.get(k)]
            text = ": ".join(parts)
    except (ValueError, AttributeError):
        pass
    retryable = status >= 500 or status in (408, 429)
    verb = "failed" if status >= 500 else "rejected the request"
    message = f"Telnyx {verb} (HTTP {status})" + (f": {text}" if text else "")
    return ProviderError(
        message, provider=PROVIDER, retryable=retryable, provider_code=code, http_status=status
    )


@dataclass(frozen=True, slots=True)
class _Placed:
    call_id: str
    credentials: TelnyxCredentials
    call_leg_id: str | None


class TelnyxClient:
    """:class:`~voxline.telephony.base.TelephonyProvider` for Telnyx Call Control v2.

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
        credentials: TelnyxCredentials | None = None,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        answering_machine_detection: str = "detect",
        record: bool = False,
        stream_auth_token: Callable[[str], str] | None = None,
    ) -> None:
        self._public_base_url = public_base_url.rstrip("/")
        self._base_url = base_url.rstrip("/")
        self._default_credentials = credentials
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(transport=transport)
        self._timeout = httpx.Timeout(timeout_seconds)
        self._amd = answering_machine_detection
        self._record = record
        self._stream_token = stream_auth_token
        self._calls: OrderedDict[str, _Placed] = OrderedDict()
        self._placed: OrderedDict[str, str] = OrderedDict()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- TelephonyProvider -------------------------------------------------------------

    async def place_call(self, request: PlacementRequest) -> str:
        """Dial ``request.to_number``; returns Telnyx's ``call_control_id``.

        Events go to ``/webhooks/telnyx/events?call_id=…`` and the audio streams both ways
        over ``/media/telnyx?call_id=…``; answering-machine detection is on.
        """
        credentials = self._credentials_of(request)
        if not credentials.connection_id:
            raise ProviderError(
                "The Telnyx credential has no connection_id (the Call Control App to dial from)",
                provider=PROVIDER,
                retryable=False,
            )
        token = self._stream_token(request.call_id) if self._stream_token else None
        body: dict[str, Any] = {
            "connection_id": credentials.connection_id,
            "to": request.to_number,
            "from": request.from_number,
            "timeout_secs": timeout_seconds(request.join_timeout_seconds),
            "webhook_url": events_url(self._public_base_url, request.call_id),
            "webhook_url_method": "POST",
            "answering_machine_detection": self._amd,
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
            raise ProviderError(
                "Telnyx accepted the call but returned no call_control_id",
                provider=PROVIDER,
                retryable=False,
            )
        leg = data.get("call_leg_id")
        self._remember(
            call_control_id,
            _Placed(request.call_id, credentials, leg if isinstance(leg, str) else None),
        )
        return call_control_id

    async def hangup(
        self, provider_call_id: str, *, credentials: TelnyxCredentials | None = None
    ) -> None:
        """Hang up; a call that already ended counts as hung up."""
        try:
            await self.command(provider_call_id, "hangup", {}, credentials=credentials)
        except ProviderError as exc:
            if exc.provider_code != CALL_ALREADY_ENDED:
                raise

    async def placement_state(self, call_id: str) -> PlacementState:
        """PLACED when this process dialed ``call_id``; otherwise UNKNOWN, because Telnyx
        cannot look a call up by our id (it only knows its own ``call_control_id``)."""
        return PlacementState.PLACED if call_id in self._placed else PlacementState.UNKNOWN

    async def recording_url(
        self, provider_call_id: str, *, credentials: TelnyxCredentials | None = None
    ) -> str | None:
        """A download link (mp3, else wav) of the call's recording, or None if it has none.

        Telnyx lists recordings by call leg; the leg comes from the dial response or, for
        a call this process did not place, from ``GET /calls/{id}``. Links expire after
        10 minutes, so fetch one right before use.
        """
        creds = self._credentials_for(provider_call_id, credentials)
        placed = self._calls.get(provider_call_id)
        leg = placed.call_leg_id if placed else None
        if leg is None:
            call = await self._send("GET", f"/calls/{_segment(provider_call_id)}", creds)
            leg = call.get("call_leg_id") if isinstance(call.get("call_leg_id"), str) else None
        if leg is None:
            return None
        listing = await self._send_raw(
            "GET", "/recordings", creds, params={"filter[call_leg_id]": leg}
        )
        for recording in listing.get("data") or []:
            urls = recording.get("download_urls") if isinstance(recording, dict) else None
            if isinstance(urls, dict):
                for kind in ("mp3", "wav"):
                    if isinstance(urls.get(kind), str) and urls[kind]:
                        return str(urls[kind])
        return None

    # -- Commands ----------------------------------------------------------------------

    async def command(
        self,
        provider_call_id: str,
        action: str,
        body: Mapping[str, Any],
        *,
        credentials: TelnyxCredentials | None = None,
    ) -> None:
        """Send ``POST /calls/{id}/actions/{action}`` with ``body``."""
        creds = self._credentials_for(provider_call_id, credentials)
        path = f"/calls/{_segment(provider_call_id)}/actions/{action}"
        await self._send("POST", path, creds, dict(body))

    async def answer(
        self,
        provider_call_id: str,
        call_id: str,
        *,
        credentials: TelnyxCredentials | None = None,
    ) -> None:
        """Answer an inbound call and stream it to Voxline as call ``call_id``.

        AnswerCall cannot carry a stream token, so a call whose stream must present one is
        answered without a stream and then streamed with ``streaming_start``.
        """
        token = self._stream_token(call_id) if self._stream_token else None
        body = answer_command(self._public_base_url, call_id, stream=token is None)
        await self.command(provider_call_id, "answer", body, credentials=credentials)
        if token is not None:
            start = streaming_start_command(self._public_base_url, call_id, stream_auth_token=token)
            await self.command(provider_call_id, "streaming_start", start, credentials=credentials)

    async def reject(
        self, provider_call_id: str, *, credentials: TelnyxCredentials | None = None
    ) -> None:
        """Reject an inbound call to a number no agent serves."""
        await self.command(provider_call_id, "reject", reject_command(), credentials=credentials)

    # -- Internals ---------------------------------------------------------------------

    def _credentials_of(self, request: PlacementRequest) -> TelnyxCredentials:
        if isinstance(request.credentials, TelnyxCredentials):
            return request.credentials
        if request.credentials is None and self._default_credentials is not None:
            return self._default_credentials
        raise ProviderError(
            "The call's number has no Telnyx credential", provider=PROVIDER, retryable=False
        )

    def _credentials_for(
        self, provider_call_id: str, explicit: TelnyxCredentials | None
    ) -> TelnyxCredentials:
        if explicit is not None:
            return explicit
        placed = self._calls.get(provider_call_id)
        if placed is not None:
            return placed.credentials
        if self._default_credentials is not None:
            return self._default_credentials
        raise ProviderError(
            "No Telnyx credential is known for this call", provider=PROVIDER, retryable=False
        )

    def _remember(self, call_control_id: str, placed: _Placed) -> None:
        self._calls[call_control_id] = placed
        self._placed[placed.call_id] = call_control_id
        while len(self._calls) > _REMEMBERED_CALLS:
            _, old = self._calls.popitem(last=False)
            self._placed.pop(old.call_id, None)

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
        try:
            response = await self._http.request(
                method,
                f"{self._base_url}{path}",
                json=body,
                params=params,
                headers={
                    "Authorization": f"Bearer {credentials.api_key}",
                    "Accept": "application/json",
                },
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            # `from None`: the request the exception holds carries the API key.
            raise ProviderError(
                "Telnyx did not answer in time", provider=PROVIDER, retryable=True
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                f"Could not reach Telnyx ({type(exc).__name__})", provider=PROVIDER, retryable=True
            ) from None
        if not response.is_success:
            raise provider_error(response.status_code, response.content)
        if not response.content:
            return {}
        try:
            document = response.json()
        except ValueError:
            raise ProviderError(
                f"Telnyx answered HTTP {response.status_code} with a body that is not JSON",
                provider=PROVIDER,
                retryable=response.status_code >= 500,
                http_status=response.status_code,
            ) from None
        return document if isinstance(document, dict) else {}
