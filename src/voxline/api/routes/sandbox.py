"""Routes for the sandbox carrier: inbound calls without a carrier."""

from __future__ import annotations

from fastapi import APIRouter, Request

from voxline.api.deps import CallerDep, DbDep, RuntimeDep, SettingsDep
from voxline.api.envelope import Envelope, error_responses, ok
from voxline.api.schemas.calls import CallOut
from voxline.api.schemas.sandbox import CallInRequest
from voxline.services import call_queries

router = APIRouter(prefix="/sandbox", tags=["sandbox"])


@router.post(
    "/call-in",
    status_code=201,
    response_model=Envelope[CallOut],
    responses=error_responses(400, 404, 409, 422),
    summary="Have a sandbox persona call one of your sandbox numbers",
    description=(
        "The call goes through inbound routing as a carrier's inbound call does: the "
        "number's inbound agent answers it (direction inbound), or, when no agent takes the "
        "number, the call is recorded failed (end_reason rejected, context.last_error). "
        "404 for a number that is not your organization's; 422 for a number on a real "
        "carrier or an unknown persona."
    ),
)
async def call_in(
    request: Request,
    body: CallInRequest,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    runtime: RuntimeDep,
) -> Envelope[CallOut]:
    call_id = await runtime.call_in(caller.org_id, body.to_number, body.persona)
    call = await call_queries.get_call(db, settings, caller.org_id, call_id)
    return ok(request, CallOut.from_record(call))
