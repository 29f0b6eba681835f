"""ASGI middleware timing every HTTP request into ``voxline_http_request_duration_seconds``.

Labelled by method, the matched route's template (``/api/public/v1/calls/{call_id}``, never
the raw path, so ids stay out of the labels and the series stay few) and the status class
(``2xx``…). A request no route matched is ``unmatched``; a method outside the standard
few is ``other``. WebSockets are not timed (they live as long as their call).
"""

from __future__ import annotations

import re
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
            self.metrics.observe_http(
                method, route_template(scope), status, time.perf_counter() - started
            )


def route_template(scope: Scope) -> str:
    """The template of the route that served the request, from the route the router left
    on the scope.

    FastAPI may leave the route as its router declared it, without the prefixes of the
    routers that include it (``/calls/{call_id}`` under ``/api/public/v1``): the part of the
    path before what the route matched is then that static prefix, put back in front. A
    prefix that would carry a path parameter's value is not reported (``unmatched``).
    """
    route = scope.get("route")
    template = getattr(route, "path", None)
    pattern = getattr(route, "path_regex", None)
    if not isinstance(template, str) or not isinstance(pattern, re.Pattern):
        return UNMATCHED_ROUTE
    path: str = scope["path"]
    start = 0
    while start != -1:
        if pattern.match(path[start:]):
            prefix = path[:start]
            values = (str(value) for value in scope.get("path_params", {}).values())
            if prefix and any(value and value in prefix for value in values):
                return UNMATCHED_ROUTE
            return prefix + template
        start = path.find("/", start + 1)
    return UNMATCHED_ROUTE
