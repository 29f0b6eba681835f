"""Read-only pages of what an organization has set up: agents, numbers, webhook endpoints
with their delivery log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from voxline.api.deps import runtime_of
from voxline.dashboard.pages import render
from voxline.dashboard.session import ViewerDep
from voxline.services import agents, numbers, webhook_deliveries, webhooks

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


@router.get("/numbers")
async def numbers_page(request: Request, viewer: ViewerDep) -> Response:
    db = runtime_of(request).db
    items, total = await numbers.list_numbers(db, viewer.org_id, limit=LIST_LIMIT)
    listed = await agents.list_agents(db, viewer.org_id, limit=LIST_LIMIT)
    names = {agent.id: agent.name for agent in listed.items}
    context = {"numbers": items, "total": total, "agents": names}
    return render(request, "numbers.html", context)


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
