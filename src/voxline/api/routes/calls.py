"""Routes for calls: list, create (idempotent), read, update, delete, recording, transcript,
timeline."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from voxline.api.deps import CallerDep, DbDep, SettingsDep, runtime_of
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, ok, page
from voxline.api.params import IdempotencyKey, PageLimit, PageOffset
from voxline.api.schemas.calls import (
    BulkDeleteIn,
    BulkDeleteOut,
    CallCreate,
    CallDeleted,
    CallOut,
    CallUpdate,
    IsoDateTime,
    RecordingOut,
    StatusFilter,
    TimelineOut,
    TranscriptOut,
)
from voxline.domain.calls import CallDirection
from voxline.errors import ProviderError
from voxline.services import call_queries, call_timeline, calls

router = APIRouter(tags=["calls"])

# Far beyond any real list; keeps the offset inside a 64-bit database integer.
_EXCLUSIVE = "ISO-8601 date-time, exclusive; without an offset it is UTC"


@router.get(
    "/calls",
    response_model=ListEnvelope[CallOut],
    responses=error_responses(422),
    summary="List calls, newest first",
)
async def list_calls(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    status: Annotated[StatusFilter | None, Query(description="Status or alias")] = None,
    direction: CallDirection | None = None,
    agent_id: UUID | None = None,
    created_after: Annotated[IsoDateTime | None, Query(description=_EXCLUSIVE)] = None,
    created_before: Annotated[IsoDateTime | None, Query(description=_EXCLUSIVE)] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[CallOut]:
    filters = call_queries.CallFilters(
        status=call_queries.parse_status(status) if status is not None else None,
        direction=direction,
        agent_id=str(agent_id) if agent_id is not None else None,
        created_after=created_after,
        created_before=created_before,
    )
    items, total = await call_queries.list_calls(
        db, settings, caller.org_id, filters, limit=limit, offset=offset
    )
    return page(request, [CallOut.from_record(c) for c in items], total, limit, offset)


@router.post(
    "/calls",
    status_code=201,
    response_model=Envelope[CallOut],
    responses=error_responses(400, 402, 404, 409, 422, 502),
    summary="Create an outbound call",
)
async def create_call(
    request: Request,
    response: Response,
    body: CallCreate,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[CallOut]:
    outcome = await calls.create_call(
        db,
        settings,
        caller.org_id,
        body.to_new_call(),
        idempotency_key=idempotency_key,
        render=lambda call: CallOut.from_record(call).model_dump(mode="json"),
    )
    if outcome.replayed and outcome.status == ProviderError.status:
        raise calls.replayed_refusal(outcome.body)
    created = CallOut.model_validate(outcome.body)
    response.status_code = outcome.status
    if not outcome.replayed:
        try:
            await _notify_created(request, str(created.id))
        except ProviderError as exc:
            if idempotency_key is not None:
                await calls.store_placement_refusal(db, caller.org_id, idempotency_key, exc)
            raise
    return ok(request, created)


async def _notify_created(request: Request, call_id: str) -> None:
    """Hand the committed call to the runtime's placer. When it placed the call at once and
    the provider refused it for good, the call is already ``failed`` and the request
    answers 502 with that error and ``details.call_id``."""
    result = await runtime_of(request).call_created(call_id)
    if isinstance(result, ProviderError):
        # The call exists (failed, with context.last_error); tell the client which one.
        result.details["call_id"] = call_id
        raise result


@router.post(
    "/calls/bulk-delete",
    response_model=Envelope[BulkDeleteOut],
    responses=error_responses(400, 422),
    summary="Delete many ended calls",
)
async def bulk_delete_calls(
    request: Request, body: BulkDeleteIn, caller: CallerDep, db: DbDep, settings: SettingsDep
) -> Envelope[BulkDeleteOut]:
    result = await calls.bulk_delete(db, settings, caller.org_id, [str(i) for i in body.ids])
    return ok(
        request,
        BulkDeleteOut(
            deleted_count=len(result.deleted_ids),
            failed_count=len(result.failed_ids),
            deleted_ids=result.deleted_ids,
            failed_ids=result.failed_ids,
        ),
    )


@router.get(
    "/calls/{call_id}",
    response_model=Envelope[CallOut],
    responses=error_responses(404),
    summary="Get a call",
)
async def get_call(
    request: Request, call_id: str, caller: CallerDep, db: DbDep, settings: SettingsDep
) -> Envelope[CallOut]:
    call = await call_queries.get_call(db, settings, caller.org_id, call_id)
    return ok(request, CallOut.from_record(call))


@router.patch(
    "/calls/{call_id}",
    response_model=Envelope[CallOut],
    responses=error_responses(400, 404, 422),
    summary="Update a call's context or recording/transcription flags",
)
async def update_call(
    request: Request,
    call_id: str,
    body: CallUpdate,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
) -> Envelope[CallOut]:
    call = await calls.update_call(db, settings, caller.org_id, call_id, body.to_changes())
    return ok(request, CallOut.from_record(call))


@router.delete(
    "/calls/{call_id}",
    response_model=Envelope[CallDeleted],
    responses=error_responses(404, 409),
    summary="Delete an ended call with its transcript and recording",
)
async def delete_call(
    request: Request, call_id: str, caller: CallerDep, db: DbDep, settings: SettingsDep
) -> Envelope[CallDeleted]:
    deleted_id = await calls.delete_call(db, settings, caller.org_id, call_id)
    return ok(request, CallDeleted(id=UUID(deleted_id), deleted=True))


@router.get(
    "/calls/{call_id}/recording",
    response_model=Envelope[RecordingOut],
    responses=error_responses(404, 410),
    summary="Get the recording URL of a call",
)
async def get_recording(
    request: Request, call_id: str, caller: CallerDep, db: DbDep, settings: SettingsDep
) -> Envelope[RecordingOut]:
    url = await call_queries.get_recording_url(db, settings, caller.org_id, call_id)
    return ok(request, RecordingOut(recording_url=url))


@router.get(
    "/calls/{call_id}/transcript",
    response_model=Envelope[TranscriptOut],
    responses=error_responses(404),
    summary="Get the transcript and summary of a call",
)
async def get_transcript(
    request: Request, call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[TranscriptOut]:
    transcript = await call_queries.get_transcript(db, caller.org_id, call_id)
    return ok(request, TranscriptOut.from_record(transcript))


@router.get(
    "/calls/{call_id}/events",
    response_model=Envelope[TimelineOut],
    responses=error_responses(404),
    summary="Get the call's timeline: status changes, tool calls, transfers, keys, barge-ins",
)
async def get_timeline(
    request: Request, call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[TimelineOut]:
    entries = await call_timeline.call_timeline(db, caller.org_id, call_id)
    return ok(request, TimelineOut.from_entries(call_id, entries))
