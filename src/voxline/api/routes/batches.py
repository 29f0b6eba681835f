"""Routes for batch calls (campaigns): ``/batch-calls`` (``reference/truedy-api.md`` §4)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response

from voxline.api.deps import CallerDep, DbDep, SettingsDep, runtime_of
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, ok, page
from voxline.api.params import IdempotencyKey, PageLimit, PageOffset
from voxline.api.schemas.batches import (
    AnalyticsOut,
    BatchContactOut,
    BatchCreate,
    BatchDeleted,
    BatchOut,
    BatchStatusOut,
    BatchUpdate,
    ContactsAdded,
    ContactsIn,
    ScheduleIn,
)
from voxline.api.schemas.calls import BulkDeleteIn, BulkDeleteOut
from voxline.domain.batches import BatchStatus, ContactStatus
from voxline.services import batch_lifecycle as lifecycle
from voxline.services import batches as service

router = APIRouter(prefix="/batch-calls", tags=["batch-calls"])


@router.get(
    "",
    response_model=ListEnvelope[BatchOut],
    responses=error_responses(422),
    summary="List batch calls, newest first",
)
async def list_batches(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    agent_id: UUID | None = None,
    status: BatchStatus | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[BatchOut]:
    items, total = await service.list_batches(
        db,
        caller.org_id,
        agent_id=str(agent_id) if agent_id else None,
        status=status,
        limit=limit,
        offset=offset,
    )
    return page(request, [BatchOut.of(b) for b in items], total, limit, offset)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[BatchOut],
    responses=error_responses(400, 404, 409, 422),
    summary="Create a batch call (draft) with its contacts",
)
async def create_batch(
    request: Request,
    response: Response,
    body: BatchCreate,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Envelope[BatchOut]:
    outcome = await service.create_batch(
        db, settings, caller.org_id, body.to_new(), idempotency_key=idempotency_key
    )
    response.status_code = outcome.status
    return ok(request, BatchOut.model_validate(outcome.body))


@router.post(
    "/bulk-delete",
    response_model=Envelope[BulkDeleteOut],
    responses=error_responses(400),
    summary="Delete many draft, failed or cancelled batches",
)
async def bulk_delete(
    request: Request, body: BulkDeleteIn, caller: CallerDep, db: DbDep
) -> Envelope[BulkDeleteOut]:
    deleted, failed = await lifecycle.bulk_delete(db, caller.org_id, [str(i) for i in body.ids])
    return ok(
        request,
        BulkDeleteOut(
            deleted_count=len(deleted),
            failed_count=len(failed),
            deleted_ids=deleted,
            failed_ids=failed,
        ),
    )


@router.get(
    "/{batch_call_id}",
    response_model=Envelope[BatchOut],
    responses=error_responses(404),
    summary="Get a batch call",
)
async def get_batch(
    request: Request, batch_call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[BatchOut]:
    return ok(request, BatchOut.of(await service.get_batch(db, caller.org_id, batch_call_id)))


@router.patch(
    "/{batch_call_id}",
    response_model=Envelope[BatchOut],
    responses=error_responses(400, 404, 409),
    summary="Edit a draft, scheduled or paused batch call",
)
async def update_batch(
    request: Request, batch_call_id: str, body: BatchUpdate, caller: CallerDep, db: DbDep
) -> Envelope[BatchOut]:
    changes: dict[str, Any] = body.changes()
    batch = await service.update_batch(db, caller.org_id, batch_call_id, changes)
    return ok(request, BatchOut.of(batch))


@router.delete(
    "/{batch_call_id}",
    response_model=Envelope[BatchDeleted],
    responses=error_responses(404, 409),
    summary="Delete a draft, failed or cancelled batch call",
)
async def delete_batch(
    request: Request, batch_call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[BatchDeleted]:
    return ok(
        request, BatchDeleted(id=await lifecycle.delete_batch(db, caller.org_id, batch_call_id))
    )


@router.post(
    "/{batch_call_id}/schedule",
    response_model=Envelope[BatchStatusOut],
    responses=error_responses(400, 404, 409),
    summary="Schedule a draft batch call (now, or at scheduled_at)",
)
async def schedule_batch(
    request: Request,
    batch_call_id: str,
    caller: CallerDep,
    db: DbDep,
    body: ScheduleIn | None = None,
) -> Envelope[BatchStatusOut]:
    body = body or ScheduleIn()
    batch = await lifecycle.schedule(
        db, caller.org_id, batch_call_id, body.scheduled_at, body.timezone
    )
    await runtime_of(request).batches_changed()
    return ok(
        request,
        BatchStatusOut(
            id=batch.id,
            status=BatchStatus(batch.status),
            scheduled_at=batch.scheduled_at,
            timezone=batch.timezone,
        ),
    )


@router.post(
    "/{batch_call_id}/pause",
    response_model=Envelope[BatchStatusOut],
    responses=error_responses(404, 409),
    summary="Pause a batch call: calls not yet placed wait, calls under way finish",
)
async def pause_batch(
    request: Request, batch_call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[BatchStatusOut]:
    batch = await lifecycle.pause(db, caller.org_id, batch_call_id)
    return ok(
        request,
        BatchStatusOut(id=batch.id, status=BatchStatus(batch.status), paused_at=batch.paused_at),
    )


@router.post(
    "/{batch_call_id}/resume",
    status_code=201,
    response_model=Envelope[BatchStatusOut],
    responses=error_responses(404, 409),
    summary="Resume a paused batch call",
)
async def resume_batch(
    request: Request, batch_call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[BatchStatusOut]:
    batch = await lifecycle.resume(db, caller.org_id, batch_call_id)
    await runtime_of(request).batches_changed()
    return ok(
        request,
        BatchStatusOut(id=batch.id, status=BatchStatus(batch.status), resumed_at=batch.resumed_at),
    )


@router.post(
    "/{batch_call_id}/cancel",
    response_model=Envelope[BatchStatusOut],
    responses=error_responses(404, 409),
    summary="Cancel a batch call: waiting contacts are not called",
)
async def cancel_batch(
    request: Request, batch_call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[BatchStatusOut]:
    batch = await lifecycle.cancel(db, caller.org_id, batch_call_id)
    return ok(request, BatchStatusOut(id=batch.id, status=BatchStatus(batch.status)))


@router.get(
    "/{batch_call_id}/contacts",
    response_model=ListEnvelope[BatchContactOut],
    responses=error_responses(404),
    summary="List a batch call's contacts and how each went",
)
async def list_contacts(
    request: Request,
    batch_call_id: str,
    caller: CallerDep,
    db: DbDep,
    status: ContactStatus | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[BatchContactOut]:
    items, total = await service.list_contacts(
        db, caller.org_id, batch_call_id, status.value if status else None, limit, offset
    )
    return page(request, [BatchContactOut.of(c) for c in items], total, limit, offset)


@router.post(
    "/{batch_call_id}/contacts",
    response_model=Envelope[ContactsAdded],
    responses=error_responses(400, 404, 409),
    summary="Add contacts to a draft, scheduled or paused batch call",
)
async def add_contacts(
    request: Request, batch_call_id: str, body: ContactsIn, caller: CallerDep, db: DbDep
) -> Envelope[ContactsAdded]:
    added, failed = await service.add_contacts(db, caller.org_id, batch_call_id, body.contacts)
    await runtime_of(request).batches_changed()
    return ok(request, ContactsAdded(added_count=added, failed_count=failed))


@router.get(
    "/{batch_call_id}/analytics",
    response_model=Envelope[AnalyticsOut],
    responses=error_responses(404),
    summary="A batch call's outcomes, calls, durations and cost",
)
async def analytics(
    request: Request, batch_call_id: str, caller: CallerDep, db: DbDep
) -> Envelope[AnalyticsOut]:
    found = await service.analytics(db, caller.org_id, batch_call_id)
    return ok(request, AnalyticsOut.model_validate(found, from_attributes=True))
