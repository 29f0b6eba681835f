"""ASGI middleware: a request id on every request and a last-resort 500 envelope."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxline.api.envelope import REQUEST_ID_HEADER
from voxline.api.errors import unexpected_error_response


class RequestContextMiddleware:
    """Gives each HTTP request a UUID (``request.state.request_id``, ``X-Request-ID``) and
    turns an exception that escapes the app into a 500 envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            response = unexpected_error_response(Request(scope), exc)
            await response(scope, receive, send_with_id)
