"""Routes for tools: the HTTP tools an organization's agents may call during calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from voxline.api.deps import CallerDep, DbDep, SettingsDep
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, ok, page
from voxline.api.params import IdempotencyKey, PageLimit, PageOffset
from voxline.api.schemas.text import StoredText
from voxline.api.schemas.tools import Tool, ToolCreate, ToolDeleted, ToolUpdate
from voxline.domain.tool_definitions import NAME_MAX
from voxline.services import tools as service

router = APIRouter(prefix="/tools", tags=["tools"])

_SECRETS = (
    'Static header parameter values are secrets: stored encrypted, shown as "********" with '
    "secret: true. Sending the mask back keeps the stored value."
)


@router.get(
    "",
    response_model=ListEnvelope[Tool],
    responses=error_responses(422),
    summary="List tools, newest first",
)
async def list_tools(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    name: Annotated[
        StoredText | None,
        Query(max_length=NAME_MAX, description="Part of the name, any case"),
    ] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[Tool]:
    found = await service.list_tools(db, caller.org_id, name=name, limit=limit, offset=offset)
    return page(request, [Tool.of(t) for t in found.items], found.total, limit, offset)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[Tool],
    responses=error_responses(400, 409, 422),
    summary="Create a tool",
    description="Without a definition, a placeholder agents cannot enable yet. " + _SECRETS,
)
async def create_tool(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    body: ToolCreate,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[Tool]:
    created = await service.create_tool(
        db,
        settings,
        caller.org_id,
        name=body.name,
        definition=body.definition,
        render=lambda tool: Tool.of(tool).model_dump(mode="json"),
        idempotency_key=idempotency_key,
        payload=body.model_dump(mode="json"),
    )
    return ok(request, Tool.model_validate(created.body))


@router.get(
    "/{tool_id}",
    response_model=Envelope[Tool],
    responses=error_responses(404),
    summary="Get a tool",
)
async def get_tool(request: Request, caller: CallerDep, db: DbDep, tool_id: str) -> Envelope[Tool]:
    return ok(request, Tool.of(await service.get_tool(db, caller.org_id, tool_id)))


@router.patch(
    "/{tool_id}",
    response_model=Envelope[Tool],
    responses=error_responses(400, 404, 409, 422),
    summary="Update a tool",
    description="Only the fields sent change; a definition replaces the whole definition. "
    "While agents use the tool, a definition without http, or with the modelToolName of "
    "another of their tools, is refused (409). " + _SECRETS,
)
async def update_tool(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    tool_id: str,
    body: ToolUpdate,
) -> Envelope[Tool]:
    tool = await service.update_tool(db, settings, caller.org_id, tool_id, body.to_changes())
    return ok(request, Tool.of(tool))


@router.delete(
    "/{tool_id}",
    response_model=Envelope[ToolDeleted],
    responses=error_responses(404, 409),
    summary="Delete a tool",
    description="Refused (409) while an agent uses the tool.",
)
async def delete_tool(
    request: Request, caller: CallerDep, db: DbDep, tool_id: str
) -> Envelope[ToolDeleted]:
    deleted_id = await service.delete_tool(db, caller.org_id, tool_id)
    return ok(request, ToolDeleted(id=deleted_id))
