"""Signing in with an API key, and out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from voxline.dashboard.pages import BASE, render
from voxline.dashboard.session import checked_form, sign_in, sign_out
from voxline.errors import Unauthorized

router = APIRouter()


@router.get("/sign-in")
async def sign_in_page(request: Request) -> Response:
    return render(request, "sign_in.html", {"error": None})


@router.post("/sign-in")
async def sign_in_submit(request: Request) -> Response:
    form = await checked_form(request)
    try:
        await sign_in(request, form.get("api_key", ""))
    except Unauthorized:
        error = "That key is not valid. `make run` prints one; `voxline keys create` makes more."
        return render(request, "sign_in.html", {"error": error}, status_code=401)
    return RedirectResponse(f"{BASE}/calls", status_code=303)


@router.post("/sign-out")
async def sign_out_submit(request: Request) -> Response:
    await checked_form(request)
    sign_out(request)
    return RedirectResponse(f"{BASE}/sign-in", status_code=303)
