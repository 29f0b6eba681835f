"""ASGI middleware: a request body larger than ``VOXLINE_MAX_BODY_BYTES`` is a 413.

The body is read here, before any route, dependency or parser sees it: a declared
``Content-Length`` above the limit is refused without reading anything, and a body sent
without one (chunked) is counted as it arrives and refused as soon as it passes the limit,
with the rest left unread. A body within the limit is handed on to the app unchanged.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxline.api.errors import error_response
from voxline.errors import PayloadTooLarge


class BodyLimitMiddleware:
    """Refuses HTTP request bodies over ``max_bytes`` with the 413 error envelope."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                first = message  # the client left; the app sees it as it would have
                break
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        if first is None:
            first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                assert first is not None
                return first
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge.limit(self.max_bytes)
        response = error_response(
            Request(scope), error.status, error.code, error.message, error.details
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    """The request's ``Content-Length``, or 0 when it has none (or one no server accepts)."""
    declared = Headers(scope=scope).get("content-length", "").strip()
    return int(declared) if declared.isascii() and declared.isdigit() else 0
