"""ASGI middleware: a request body larger than ``VOXLINE_MAX_BODY_BYTES`` is a 413.

The body is read here, before any route, dependency or parser sees it: a declared
``Content-Length`` above the limit is refused without reading anything, and a body sent
without one (chunked) is counted as it arrives and refused as soon as it passes the limit,
with the rest left unread. A body within the limit is handed on to the app unchanged.

A few upload routes take larger multipart bodies (``multipart_limits``: path → limit), which
are *not* buffered: the app reads them as they arrive (the multipart parser spools files to
disk) while this middleware counts. Past the limit, the 413 is sent at once, the app is told
the client left, and whatever the app answers after that is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxline.api.errors import error_response
from voxline.errors import PayloadTooLarge


class BodyLimitMiddleware:
    """Refuses HTTP request bodies over ``max_bytes`` with the 413 error envelope, and
    multipart bodies to a path of ``multipart_limits`` over that path's limit."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, multipart_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.multipart_limits = dict(multipart_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        streamed = self._streamed_limit(scope)
        limit = self.max_bytes if streamed is None else streamed
        if _declared_length(scope) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        if streamed is not None:
            await self._stream(scope, receive, send, streamed)
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
                await self._refuse(scope, receive, send, self.max_bytes)
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

    def _streamed_limit(self, scope: Scope) -> int | None:
        limit = self.multipart_limits.get(scope.get("path", ""))
        if limit is None or scope.get("method") != "POST":
            return None
        content_type = Headers(scope=scope).get("content-type", "").lower()
        return limit if content_type.startswith("multipart/form-data") else None

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        size = 0
        refused = False

        async def counted() -> Message:
            nonlocal size, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    refused = True
                    await self._refuse(scope, receive, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            # The app failed because it was told the client left; the 413 is already sent.
            if not refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        error = PayloadTooLarge.limit(limit)
        response = error_response(
            Request(scope), error.status, error.code, error.message, error.details
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _declared_length(scope: Scope) -> int:
    """The request's ``Content-Length``, or 0 when it has none (or one no server accepts)."""
    declared = Headers(scope=scope).get("content-length", "").strip()
    return int(declared) if declared.isascii() and declared.isdigit() else 0
