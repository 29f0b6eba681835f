"""Routes for the organization's do-not-call list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from voxline.api.deps import CallerDep, DbDep
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, ok, page
from voxline.api.params import PageLimit, PageOffset
from voxline.api.routes.contacts import form_file, is_multipart
from voxline.api.schemas.dnc import (
    IMPORT_FORM_SCHEMA,
    DncCreate,
    DncDeleted,
    DncEntry,
    DncImportResult,
)
from voxline.api.schemas.text import StoredText
from voxline.errors import ValidationFailed
from voxline.services import dnc as service

router = APIRouter(prefix="/dnc", tags=["do-not-call"])


@router.get(
    "",
    response_model=ListEnvelope[DncEntry],
    responses=error_responses(422),
    summary="List the do-not-call list, newest first",
)
async def list_entries(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    search: Annotated[
        StoredText | None,
        Query(max_length=200, description="Part of the number or the reason, any case"),
    ] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[DncEntry]:
    found = await service.list_entries(db, caller.org_id, search=search, limit=limit, offset=offset)
    return page(request, [DncEntry.of(e) for e in found.items], found.total, limit, offset)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[DncEntry],
    responses={
        **error_responses(400, 422),
        200: {"model": Envelope[DncEntry], "description": "Already listed: the entry as it was"},
    },
    summary="Add a number to the do-not-call list",
    description="Idempotent on the number: a number already listed answers 200 with its "
    "entry (its reason unchanged). Calls to a listed number are refused (422, "
    'details.reason "do_not_call"), and queued ones fail when their turn comes.',
)
async def add_entry(
    request: Request, response: Response, caller: CallerDep, db: DbDep, body: DncCreate
) -> Envelope[DncEntry]:
    entry, created = await service.add(db, caller.org_id, body.phone_number, body.reason)
    if not created:
        response.status_code = 200
    return ok(request, DncEntry.of(entry))


@router.post(
    "/import",
    response_model=Envelope[DncImportResult],
    responses=error_responses(400, 422),
    summary="Add the numbers of a CSV file to the do-not-call list",
    description="multipart/form-data with a file field; read as it arrives, up to "
    "VOXLINE_CONTACTS_IMPORT_MAX_BYTES.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": IMPORT_FORM_SCHEMA}},
        }
    },
)
async def import_entries(
    request: Request, caller: CallerDep, db: DbDep
) -> Envelope[DncImportResult]:
    if not is_multipart(request):
        raise ValidationFailed.field("file", "send a CSV file as multipart/form-data")
    async with request.form(max_files=1, max_fields=10) as form:
        report = await service.import_csv(db, caller.org_id, form_file(form).file)
    return ok(request, DncImportResult.of(report))


@router.delete(
    "/{phone_number}",
    response_model=Envelope[DncDeleted],
    responses=error_responses(404),
    summary="Take a number off the do-not-call list",
    description="The number in E.164, its + URL-encoded as %2B.",
)
async def remove_entry(
    request: Request, caller: CallerDep, db: DbDep, phone_number: str
) -> Envelope[DncDeleted]:
    removed = await service.remove(db, caller.org_id, phone_number)
    return ok(request, DncDeleted(phone_number=removed))
