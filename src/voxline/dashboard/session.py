"""Who is signed in to the dashboard, and the token that guards its forms.

Signing in posts an API key, checked exactly as the public API checks a bearer key
(:func:`voxline.services.keys.authenticate_key`). The session then holds the key's *id* and
organization, never its secret: a cookie signed with the deployment's secret (Starlette's
``SessionMiddleware``), HttpOnly and SameSite=Strict, so no script can read it and no other
site can send it. Every request asks whether the key is still active, so revoking a key signs
its sessions out.

Forms that change something carry a per-session token (``csrf``) on top of SameSite=Strict.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from voxline.api.deps import runtime_of
from voxline.errors import Forbidden, Unauthorized
from voxline.services import keys

SESSION_COOKIE = "voxline_dashboard"
SESSION_MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"


class SignInRequired(Exception):
    """No valid session: the dashboard answers with the sign-in page."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in key: every page shows its organization's data only."""

    org_id: str
    key_id: str
    key_prefix: str


def csrf_token(request: Request) -> str:
    """The session's form token, made on first use."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form's text fields, once its token matches the session's."""
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    expected = request.session.get(CSRF_FIELD)
    presented = fields.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, presented):
        raise Forbidden("This form has expired: reload the page and try again")
    return fields


async def sign_in(request: Request, presented: str) -> None:
    """Start a session for the key ``presented``; :class:`Unauthorized` if it is not one."""
    runtime = runtime_of(request)
    key = await keys.authenticate_key(runtime.db, presented.strip())
    await runtime.rate_limiter.hit(key.org_id)
    # A fresh session (and form token) on every sign-in: nothing from before carries over.
    request.session.clear()
    request.session.update({"key_id": key.id, "org_id": key.org_id, "prefix": key.prefix})
    csrf_token(request)


def sign_out(request: Request) -> None:
    request.session.clear()


async def viewer_of(connection: HTTPConnection) -> Viewer | None:
    """The signed-in key of a request or WebSocket; None without a session, once the key is
    revoked, or when it no longer belongs to the session's organization."""
    key_id = connection.session.get("key_id")
    if not isinstance(key_id, str):
        return None
    runtime = runtime_of(connection)
    try:
        key = await keys.active_key(runtime.db, key_id)
    except Unauthorized:
        return None
    if key.org_id != connection.session.get("org_id"):
        return None
    await runtime.rate_limiter.hit(key.org_id)
    return Viewer(org_id=key.org_id, key_id=key.id, key_prefix=key.prefix)


async def current_viewer(request: Request) -> Viewer:
    """The signed-in key; :class:`SignInRequired` without a session or once the key is revoked."""
    viewer = await viewer_of(request)
    if viewer is None:
        if "key_id" in request.session:
            request.session.clear()
        raise SignInRequired
    request.state.viewer = viewer  # the page's header shows it, error pages included
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
