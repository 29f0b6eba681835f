"""The HTTP base every carrier adapter sends its REST requests through.

One place owns the httpx client, the timeout of every request and how a failed exchange
becomes a :class:`~voxline.errors.ProviderError`, with the one ``retryable`` rule: a timeout,
a connection failure, a 5xx, a 408 or a 429 may succeed later; any other 4xx fails the same
way again. Vendors only say how their error bodies read (:data:`ErrorText`).

httpx exceptions are chained ``from None``: the request they hold carries the account's
credentials in its headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from voxline.errors import ProviderError
from voxline.net import tls

DEFAULT_TIMEOUT_SECONDS = 10.0

# How a vendor's error response reads: the error's message (never a credential) and the
# vendor's error code, if any.
ErrorText = Callable[[httpx.Response], tuple[str, str | None]]


def retryable_status(status: int) -> bool:
    """Whether a request answered with HTTP ``status`` may succeed if sent again."""
    return status >= 500 or status in (408, 429)


def reason_only(response: httpx.Response) -> tuple[str, str | None]:
    """The error text of a vendor whose bodies say nothing useful: status and reason."""
    return f"HTTP {response.status_code}: {response.reason_phrase or 'no message'}", None


class ProviderHttp:
    """Sends one vendor's REST requests; every failure leaves as :class:`ProviderError`.

    ``http`` (or just ``transport``) lets tests point the adapter at an emulator or share
    one client; a client made here is closed by :meth:`aclose`.
    """

    def __init__(
        self,
        provider: str,
        *,
        label: str,
        error_text: ErrorText = reason_only,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.provider = provider
        self._label = label
        self._error_text = error_text
        self._timeout = httpx.Timeout(timeout_seconds)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            transport=transport, timeout=self._timeout, verify=tls.client_context()
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send one request; a status outside 2xx and ``allow`` raises :class:`ProviderError`."""
        try:
            response = await self._http.request(
                method,
                url,
                auth=auth,
                headers=headers,
                content=content,
                json=json,
                params=params,
                timeout=self._timeout,
            )
        except httpx.TimeoutException:
            raise self.error(f"{self._label} did not answer in time", retryable=True) from None
        except httpx.TransportError as exc:
            raise self.error(
                f"Could not reach {self._label} ({type(exc).__name__})", retryable=True
            ) from None
        if response.is_success or response.status_code in allow:
            return response
        raise self.status_error(response)

    def status_error(self, response: httpx.Response) -> ProviderError:
        """The error for a non-2xx answer, worded by the vendor's :data:`ErrorText`."""
        status = response.status_code
        message, code = self._error_text(response)
        return self.error(
            message,
            retryable=retryable_status(status),
            provider_code=code,
            http_status=status,
        )

    def error(
        self,
        message: str,
        *,
        retryable: bool = False,
        provider_code: str | None = None,
        http_status: int | None = None,
    ) -> ProviderError:
        """A :class:`ProviderError` of this vendor."""
        return ProviderError(
            message,
            provider=self.provider,
            retryable=retryable,
            provider_code=provider_code,
            http_status=http_status,
        )

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object a successful answer holds ({} for an empty body)."""
        if not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            raise self.error(
                f"{self._label} answered HTTP {response.status_code} with a body that is not JSON",
                retryable=response.status_code >= 500,
                http_status=response.status_code,
            ) from None
        if not isinstance(body, dict):
            raise self.error(
                f"{self._label} answered with unexpected JSON", http_status=response.status_code
            )
        return body
