"""Rendering a dashboard page: the templates, their filters and what every page is given."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from voxline.dashboard.latency import ms_text
from voxline.dashboard.session import SESSION_COOKIE, Viewer, csrf_token

HERE = Path(__file__).parent
BASE = "/dashboard"


def when(value: datetime | None) -> str:
    """An instant as the dashboard shows it, in UTC."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def clock(seconds: float | int | None) -> str:
    """A duration or an offset into a call: ``m:ss`` (``h:mm:ss`` past an hour)."""
    if seconds is None:
        return "—"
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def usd(value: Decimal | None) -> str:
    return "—" if value is None else f"${value:.4f}"


def ms(value: float | None) -> str:
    return "—" if value is None else ms_text(value)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters.update(when=when, clock=clock, usd=usd, ms=ms)
    templates.env.globals.update(base=BASE, session_cookie=SESSION_COOKIE)
    return templates


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """``name`` rendered with ``context``, the signed-in viewer (if any) and the session's
    form token."""
    templates: Jinja2Templates = request.app.state.templates
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    page = {"viewer": viewer, "csrf": csrf_token(request), **context}
    return templates.TemplateResponse(request, name, page, status_code=status_code)


def fragment(request: Request, name: str, context: dict[str, Any]) -> str:
    """A template rendered to text, for the parts a server-sent event carries."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.get_template(name).render({"request": request, **context})
