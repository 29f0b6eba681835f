"""Pages of what an organization has set up: agents, numbers (with the sandbox's "call in"),
webhook endpoints with their delivery log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from voxline.api.deps import runtime_of
from voxline.dashboard.pages import BASE, render
from voxline.dashboard.session import ViewerDep, checked_form
from voxline.errors import VoxlineError
from voxline.services import agents, numbers, webhook_deliveries, webhooks
from voxline.telephony.sandbox.personas import CALLER_BEHAVIOURS, DEFAULT_CALLER

router = APIRouter()

# The pages list this many, newest first; an organization with more reads the API.
LIST_LIMIT = 200
DELIVERY_LIMIT = 100


@router.get("/agents")
async def agents_page(request: Request, viewer: ViewerDep) -> Response:
    listed = await agents.list_agents(runtime_of(request).db, viewer.org_id, limit=LIST_LIMIT)
    context = {"agents": listed.items, "total": listed.total}
    return render(request, "agents.html", context)


@router.get("/agents/{agent_id}")
async def agent_page(request: Request, agent_id: str, viewer: ViewerDep) -> Response:
    agent = await agents.get_agent(runtime_of(request).db, viewer.org_id, agent_id)
    return render(request, "agent.html", {"agent": agent})


async def _numbers_context(request: Request, org_id: str) -> dict[str, Any]:
    db = runtime_of(request).db
    items, total = await numbers.list_numbers(db, org_id, limit=LIST_LIMIT)
    listed = await agents.list_agents(db, org_id, limit=LIST_LIMIT)
    names = {agent.id: agent.name for agent in listed.items}
    return {
        "numbers": items,
        "total": total,
        "agents": names,
        "personas": [b.value for b in CALLER_BEHAVIOURS],
        "default_persona": DEFAULT_CALLER.value,
    }


@router.get("/numbers")
async def numbers_page(request: Request, viewer: ViewerDep) -> Response:
    return render(request, "numbers.html", await _numbers_context(request, viewer.org_id))


@router.post("/numbers/call-in")
async def call_in(request: Request, viewer: ViewerDep) -> Response:
    """A sandbox persona calls one of the organization's sandbox numbers (as
    ``POST /sandbox/call-in``); the call's page follows, a refusal shows on the numbers page."""
    form = await checked_form(request)
    to_number = form.get("to_number", "").strip()
    persona = form.get("persona", "").strip() or None
    try:
        call_id = await runtime_of(request).call_in(viewer.org_id, to_number, persona)
    except VoxlineError as exc:
        context = {**await _numbers_context(request, viewer.org_id), "error": exc.message}
        return render(request, "numbers.html", context, status_code=exc.status)
    return RedirectResponse(f"{BASE}/calls/{call_id}", status_code=303)


@router.get("/webhooks")
async def webhooks_page(request: Request, viewer: ViewerDep) -> Response:
    db = runtime_of(request).db
    items, total = await webhooks.list_endpoints(db, viewer.org_id, limit=LIST_LIMIT, offset=0)
    return render(request, "webhooks.html", {"endpoints": items, "total": total})


@router.get("/webhooks/{endpoint_id}")
async def webhook_page(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
    db = runtime_of(request).db
    endpoint = await webhooks.get_endpoint(db, viewer.org_id, endpoint_id)
    deliveries, total = await webhook_deliveries.list_deliveries(
        db, viewer.org_id, endpoint.id, status=None, limit=DELIVERY_LIMIT, offset=0
    )
    context = {"endpoint": endpoint, "deliveries": deliveries, "total": total}
    return render(request, "webhook.html", context)
