"""The dashboard's ASGI app, mounted by the API app at ``/dashboard``.

It has its own session middleware (so the public API never reads a cookie), its own error
pages (HTML, not the JSON envelope) and strict security headers: scripts, styles and media
come from this origin only, which is all the dashboard needs since htmx and its SSE
extension are served from ``static/vendor`` (``make install`` puts them there).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxline.config import Settings
from voxline.dashboard import calls, directory, sign_in, webcall
from voxline.dashboard.pages import BASE, HERE, make_templates, render
from voxline.dashboard.session import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    SignInRequired,
)
from voxline.errors import RateLimited, VoxlineError
from voxline.logging import get_logger
from voxline.runtime import Runtime

log = get_logger("dashboard")

VENDOR = HERE / "static" / "vendor"
VENDOR_FILES = ("htmx.min.js", "sse.min.js")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response, and ``no-store`` to pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = dict(SECURITY_HEADERS)
                if not static:
                    extra["cache-control"] = "no-store"
                headers += [
                    (k.encode(), v.encode()) for k, v in extra.items() if k.encode() not in names
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def assets_ready() -> bool:
    return all((VENDOR / name).is_file() for name in VENDOR_FILES)


def create_dashboard(settings: Settings, runtime: Runtime) -> FastAPI:
    """The dashboard over ``runtime``; its session cookie is signed with the deployment's
    secret key and sent only over HTTPS when the public base URL is HTTPS."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.state.templates = make_templates()
    app.state.templates.env.globals["assets_ready"] = assets_ready()
    if not assets_ready():
        log.warning("dashboard assets are missing: run `make install`")

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_SECONDS,
        path=BASE,
        same_site="strict",
        https_only=settings.base_url.startswith("https://"),
    )
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for module in (sign_in, calls, directory, webcall):
        app.include_router(module.router)

    @app.get("/")
    async def home() -> Response:
        return RedirectResponse(f"{BASE}/calls", status_code=303)

    _install_error_pages(app)
    return app


def _install_error_pages(app: FastAPI) -> None:
    async def signed_out(request: Request, exc: Exception) -> Response:
        target = f"{BASE}/sign-in"
        if "HX-Request" in request.headers:
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    async def voxline_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, VoxlineError)
        response = _error_page(request, exc.status, exc.message)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = "Page not found" if exc.status_code == 404 else str(exc.detail)
        return _error_page(request, exc.status_code, message)

    async def invalid(request: Request, exc: Exception) -> Response:
        return _error_page(request, 422, "The page's address has an invalid value")

    app.add_exception_handler(SignInRequired, signed_out)
    app.add_exception_handler(VoxlineError, voxline_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)


def _error_page(request: Request, status: int, message: str) -> Response:
    titles = {403: "Not allowed", 404: "Not found", 429: "Slow down"}
    title = titles.get(status, "Something went wrong")
    context = {"status": status, "title": title, "message": message}
    return render(request, "error.html", context, status_code=status)
