"""The request and retry logic shared by :class:`Voxline` and :class:`AsyncVoxline`.

A request is described once as an :class:`Operation`; whether a failed attempt is tried
again, and after how long, is decided by :func:`retry_delay` alone, so the sync and the
async client cannot disagree:

- a refused connection (nothing reached the server) and a 429 are retried for any request;
- a 5xx, a timeout or a dropped connection only when repeating the request is safe: GET,
  PUT and DELETE, or a POST carrying ``X-Idempotency-Key`` (every attempt sends the SAME key,
  so the server answers a repeat with the first response and creates nothing twice);
- a 502 ``provider_error`` is the server's final answer (it replays it for the same key), so
  it is never retried;
- waits grow exponentially with full jitter; a ``Retry-After`` is honoured (plus a little
  jitter), and one longer than ``RetryPolicy.max_retry_after`` is raised at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from voxline.client.errors import ConnectionFailed, RateLimited, VoxlineAPIError, error_class

API_PATH = "/api/public/v1"
IDEMPOTENCY_HEADER = "X-Idempotency-Key"
REQUEST_ID_HEADER = "X-Request-ID"
DEFAULT_TIMEOUT = 30.0

_SAFE_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How failed attempts are repeated. ``wait=False`` retries at once (for tests)."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    wait: bool = True
    # Draws in [0, 1) that scale each wait; fixed in tests to make waits exact.
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def backoff_delay(self, attempt: int) -> float:
        """Full jitter: anywhere up to ``backoff * 2**(attempt-1)``, capped."""
        return self.jitter() * min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))


NO_RETRY = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class Operation:
    """One API request, as every attempt of it is sent."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    idempotency_key: str | None = None
    authorized: bool = True

    @property
    def retry_safe(self) -> bool:
        """Whether sending it twice has the effect of sending it once."""
        return self.method in _SAFE_METHODS or self.idempotency_key is not None

    def headers(self, api_key: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {api_key}"} if self.authorized else {}
        if self.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = self.idempotency_key
        return headers

    def query(self) -> dict[str, Any] | None:
        if self.params is None:
            return None
        return {k: v for k, v in self.params.items() if v is not None}


def path(*parts: str) -> str:
    """An API path from fixed parts and ids; ids are percent-encoded whole (no ``/``)."""
    return "/" + "/".join(quote(part, safe="") for part in parts)


def api_base(base_url: str) -> str:
    """``base_url`` with the API's base path, given with or without it."""
    url = base_url.rstrip("/")
    return url if url.endswith(API_PATH) else url + API_PATH


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (delta or HTTP date), if it has a usable one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_body(response: httpx.Response) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return {}, {}
    if not isinstance(body, dict):
        return {}, {}
    error, meta = body.get("error"), body.get("meta")
    return (error if isinstance(error, dict) else {}), (meta if isinstance(meta, dict) else {})


def api_error(response: httpx.Response) -> VoxlineAPIError:
    """The typed error for an error answer."""
    error, meta = _error_body(response)
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message")
    if not isinstance(message, str):
        message = response.reason_phrase or f"HTTP {response.status_code}"
    details = error.get("details") if isinstance(error.get("details"), dict) else None
    request_id = meta.get("request_id") or response.headers.get(REQUEST_ID_HEADER)
    cls = error_class(response.status_code, code)
    kwargs: dict[str, Any] = {
        "status": response.status_code,
        "code": code,
        "details": details,
        "request_id": request_id,
    }
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after_seconds(response), **kwargs)
    return cls(message, **kwargs)


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    op: Operation,
    outcome: httpx.Response | httpx.TransportError,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to stop after ``attempt``."""
    if attempt >= policy.attempts:
        return None
    if isinstance(outcome, httpx.TransportError):
        never_sent = isinstance(outcome, httpx.ConnectError | httpx.ConnectTimeout)
        return policy.backoff_delay(attempt) if never_sent or op.retry_safe else None
    status = outcome.status_code
    if status == 429:
        asked = retry_after_seconds(outcome)
        if asked is None:
            return policy.backoff_delay(attempt)
        if asked > policy.max_retry_after:
            return None
        return asked + policy.jitter() * min(1.0, policy.backoff)
    if status >= 500 and op.retry_safe:
        if _error_body(outcome)[0].get("code") == "provider_error":
            return None
        return policy.backoff_delay(attempt)
    return None


def _connection_failed(op: Operation, exc: httpx.TransportError) -> ConnectionFailed:
    # The request's URL is ours, never a header: no key in the message.
    return ConnectionFailed(f"{op.method} {op.path}: {type(exc).__name__}: {exc}")


def data_of(response: httpx.Response) -> Any:
    """The ``data`` of a success envelope."""
    return response.json()["data"]


@dataclass
class SyncHTTP:
    """Sends operations with retries over one ``httpx.Client``."""

    client: httpx.Client
    api_key: str = field(repr=False)
    retry: RetryPolicy
    sleep: Callable[[float], None] = time.sleep

    def send(self, op: Operation) -> httpx.Response:
        """The success response of ``op``; raises the typed error otherwise."""
        attempt = 0
        while True:
            attempt += 1
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = self.client.request(
                    op.method,
                    op.path,
                    params=op.query(),
                    json=op.json,
                    headers=op.headers(self.api_key),
                )
            except httpx.TransportError as exc:
                outcome = exc
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            delay = retry_delay(self.retry, attempt, op, outcome)
            if delay is None:
                if isinstance(outcome, httpx.TransportError):
                    raise _connection_failed(op, outcome) from outcome
                raise api_error(outcome)
            if self.retry.wait:
                self.sleep(delay)

    def data(self, op: Operation) -> Any:
        return data_of(self.send(op))

    def body(self, op: Operation) -> Any:
        return self.send(op).json()

    def close(self) -> None:
        self.client.close()


async def asyncio_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass
class AsyncHTTP:
    """Sends operations with retries over one ``httpx.AsyncClient``."""

    client: httpx.AsyncClient
    api_key: str = field(repr=False)
    retry: RetryPolicy
    sleep: Callable[[float], Awaitable[None]] = asyncio_sleep

    async def send(self, op: Operation) -> httpx.Response:
        """The success response of ``op``; raises the typed error otherwise."""
        attempt = 0
        while True:
            attempt += 1
            outcome: httpx.Response | httpx.TransportError
            try:
                outcome = await self.client.request(
                    op.method,
                    op.path,
                    params=op.query(),
                    json=op.json,
                    headers=op.headers(self.api_key),
                )
            except httpx.TransportError as exc:
                outcome = exc
            if isinstance(outcome, httpx.Response) and outcome.is_success:
                return outcome
            delay = retry_delay(self.retry, attempt, op, outcome)
            if delay is None:
                if isinstance(outcome, httpx.TransportError):
                    raise _connection_failed(op, outcome) from outcome
                raise api_error(outcome)
            if self.retry.wait:
                await self.sleep(delay)

    async def data(self, op: Operation) -> Any:
        return data_of(await self.send(op))

    async def body(self, op: Operation) -> Any:
        return (await self.send(op)).json()

    async def aclose(self) -> None:
        await self.client.aclose()
