"""A loopback HTTP server that records every request exactly as it arrived on the wire and
answers with a canned body, so the request our adapter sends can be compared with the one a
vendor's own SDK sends for the same operation.

Recorded: method, the raw path (still percent-encoded, as sent), the raw query string,
the headers and the raw body. The answer is chosen by :data:`Answer` from method and path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from tests.emulators.loopback import LoopbackServer

# (method, decoded path) → (status, JSON document to answer with).
Answer = Callable[[str, str], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    raw_path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        """The media type without parameters (``application/json``, ...), "" when absent."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def form(self) -> dict[str, list[str]]:
        """A form body as a multi-dict: every name with its values in order."""
        parsed: dict[str, list[str]] = {}
        for name, value in parse_qsl(self.body.decode(), keep_blank_values=True):
            parsed.setdefault(name, []).append(value)
        return parsed

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class RecordingServer:
    """Start with ``await server.start()`` (returns the base URL); :attr:`requests` holds
    what arrived, oldest first; :meth:`take` empties it."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self.requests: list[Recorded] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self._serve(scope, receive, send)

        # A plain coroutine function, which uvicorn recognises as ASGI 3 (a bound method is not).
        self._loopback = LoopbackServer(app)
        self.base_url = ""

    async def start(self) -> str:
        self.base_url = await self._loopback.start()
        return self.base_url

    async def stop(self) -> None:
        await self._loopback.stop()

    def take(self) -> list[Recorded]:
        taken, self.requests = self.requests, []
        return taken

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw_path = scope.get("raw_path") or scope["path"].encode()
        self.requests.append(
            Recorded(
                method=scope["method"],
                raw_path=raw_path.decode("latin-1"),
                query=scope["query_string"].decode("latin-1"),
                headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
            )
        )
        status, document = self._answer(scope["method"], scope["path"])
        content = b"" if document is None else json.dumps(document).encode()
        headers = [(b"content-type", b"application/json")] if content else []
        headers.append((b"content-length", str(len(content)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})
