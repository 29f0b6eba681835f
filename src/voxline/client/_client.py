"""The two clients: :class:`Voxline` (blocking) and :class:`AsyncVoxline`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import httpx

from voxline.client._http import (
    DEFAULT_TIMEOUT,
    AsyncHTTP,
    RetryPolicy,
    SyncHTTP,
    api_base,
    asyncio_sleep,
)
from voxline.client.agents import Agents, AsyncAgents
from voxline.client.batch_calls import AsyncBatchCalls, BatchCalls
from voxline.client.calls import AsyncCalls, Calls
from voxline.client.numbers import AsyncNumbers, Numbers
from voxline.client.sandbox import AsyncSandbox, Sandbox
from voxline.client.tools import AsyncTools, Tools
from voxline.client.voices import AsyncVoices, Voices
from voxline.client.webhooks import AsyncWebhooks, Webhooks

_USER_AGENT = "voxline-python"


class Voxline:
    """A blocking client of one Voxline deployment's public API.

    ``base_url`` is the deployment (``http://127.0.0.1:8000``; the API's base path is added
    when missing). ``transport`` replaces httpx's network (``httpx.MockTransport`` in
    tests); ``retry`` says how failed attempts are repeated and ``sleep`` how they wait.
    The API key is sent with each API request and appears in no repr, message or log.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.base_url = api_base(base_url)
        http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _USER_AGENT},
        )
        self._http = SyncHTTP(http, api_key, retry or RetryPolicy())
        if sleep is not None:
            self._http.sleep = sleep
        self.calls = Calls(self._http)
        self.agents = Agents(self._http)
        self.voices = Voices(self._http)
        self.numbers = Numbers(self._http)
        self.sandbox = Sandbox(self._http)
        self.tools = Tools(self._http)
        self.batch_calls = BatchCalls(self._http)
        self.webhooks = Webhooks(self._http)

    def __repr__(self) -> str:
        return f"Voxline(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Voxline:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncVoxline:
    """The asyncio twin of :class:`Voxline`, with the same resources and arguments."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.base_url = api_base(base_url)
        http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": _USER_AGENT},
        )
        self._http = AsyncHTTP(http, api_key, retry or RetryPolicy(), sleep or asyncio_sleep)
        self.calls = AsyncCalls(self._http)
        self.agents = AsyncAgents(self._http)
        self.voices = AsyncVoices(self._http)
        self.numbers = AsyncNumbers(self._http)
        self.sandbox = AsyncSandbox(self._http)
        self.tools = AsyncTools(self._http)
        self.batch_calls = AsyncBatchCalls(self._http)
        self.webhooks = AsyncWebhooks(self._http)

    def __repr__(self) -> str:
        return f"AsyncVoxline(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncVoxline:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
