"""ASGI middleware timing every HTTP request into ``voxline_http_request_duration_seconds``.

Labelled by method, the matched route's template (``/api/public/v1/calls/{call_id}``, never
the raw path, so ids stay out of the labels and the series stay few) and the status class
(``2xx``…). A request no route matched is ``unmatched``; a method outside the standard
few is ``other``. WebSockets are not timed (they live as long as their call).
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxline.ops.metrics import UNMATCHED_ROUTE, Metrics

__all__ = ["HttpMetricsMiddleware"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            # The router records the route it matched on the request's scope.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE
            self.metrics.observe_http(method, route, status, time.perf_counter() - started)
