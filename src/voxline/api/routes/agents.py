"""Routes for agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from voxline.api.deps import CallerDep, DbDep, SettingsDep
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, ok, page
from voxline.api.params import IdempotencyKey, PageLimit, PageOffset
from voxline.api.schemas.agents import Agent, AgentCreate, AgentDeleted, AgentUpdate
from voxline.api.schemas.text import StoredText
from voxline.domain.agents import NAME_MAX, AgentStatus
from voxline.services import agents as service

router = APIRouter(prefix="/agents", tags=["agents"])


@router.get(
    "",
    response_model=ListEnvelope[Agent],
    responses=error_responses(422),
    summary="List agents",
)
async def list_agents(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    status: Annotated[AgentStatus | None, Query()] = None,
    name: Annotated[
        StoredText | None,
        Query(max_length=NAME_MAX, description="Part of the name, any case"),
    ] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[Agent]:
    found = await service.list_agents(
        db, caller.org_id, status=status, name=name, limit=limit, offset=offset
    )
    return page(request, [Agent.of(a) for a in found.items], found.total, limit, offset)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[Agent],
    responses=error_responses(400, 409, 422),
    summary="Create an agent",
)
async def create_agent(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    body: AgentCreate,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[Agent]:
    created = await service.create_agent(
        db,
        settings,
        caller.org_id,
        body.to_draft(),
        render=lambda agent: Agent.of(agent).model_dump(mode="json"),
        idempotency_key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    return ok(request, Agent.model_validate(created.body))


@router.get(
    "/{agent_id}",
    response_model=Envelope[Agent],
    responses=error_responses(404),
    summary="Get an agent",
)
async def get_agent(
    request: Request, caller: CallerDep, db: DbDep, agent_id: str
) -> Envelope[Agent]:
    return ok(request, Agent.of(await service.get_agent(db, caller.org_id, agent_id)))


_PARTIAL = "Only the fields sent change; PUT and PATCH behave the same."


@router.put(
    "/{agent_id}",
    response_model=Envelope[Agent],
    responses=error_responses(400, 404, 409, 422),
    summary="Update an agent",
    description=_PARTIAL,
)
async def update_agent(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    agent_id: str,
    body: AgentUpdate,
) -> Envelope[Agent]:
    agent = await service.update_agent(db, settings, caller.org_id, agent_id, body.to_changes())
    return ok(request, Agent.of(agent))


@router.patch(
    "/{agent_id}",
    response_model=Envelope[Agent],
    responses=error_responses(400, 404, 409, 422),
    summary="Update an agent (partial)",
    description=_PARTIAL,
)
async def patch_agent(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    agent_id: str,
    body: AgentUpdate,
) -> Envelope[Agent]:
    return await update_agent(request, caller, db, settings, agent_id, body)


@router.delete(
    "/{agent_id}",
    response_model=Envelope[AgentDeleted],
    responses=error_responses(404, 409),
    summary="Delete an agent",
    description="Refused (409) while the agent has queued, ringing or in-progress calls. "
    "Its phone numbers are unassigned; its past calls are kept.",
)
async def delete_agent(
    request: Request, caller: CallerDep, db: DbDep, agent_id: str
) -> Envelope[AgentDeleted]:
    deleted_id = await service.delete_agent(db, caller.org_id, agent_id)
    return ok(request, AgentDeleted(id=deleted_id))
