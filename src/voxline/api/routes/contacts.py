"""Routes for contacts and their folders, and the bulk import of contacts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from voxline.api.deps import CallerDep, DbDep
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, ok, page
from voxline.api.params import MAX_OFFSET, PageLimit, PageOffset
from voxline.api.schemas.contacts import (
    IMPORT_FORM_SCHEMA,
    Contact,
    ContactCreate,
    ContactDeleted,
    ContactImportJson,
    ContactUpdate,
    Folder,
    FolderCreate,
    FolderDeleted,
    FolderUpdate,
    ImportResult,
)
from voxline.api.schemas.text import StoredText
from voxline.errors import BadRequest, ValidationFailed
from voxline.services import contact_imports as imports
from voxline.services import contacts as service

router = APIRouter(prefix="/contacts", tags=["contacts"])

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


# --- folders ----------------------------------------------------------------------------------


@router.get(
    "/folders",
    response_model=ListEnvelope[Folder],
    responses=error_responses(422),
    summary="List contact folders",
)
async def list_folders(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    sort_by: Literal["name", "created_at", "contact_count"] = "created_at",
    order: Literal["asc", "desc"] = "desc",
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[Folder]:
    found = await service.list_folders(
        db, caller.org_id, sort_by=sort_by, order=order, limit=limit, offset=offset
    )
    return page(request, [Folder.of(f) for f in found.items], found.total, limit, offset)


@router.post(
    "/folders",
    status_code=201,
    response_model=Envelope[Folder],
    responses=error_responses(400, 422),
    summary="Create a contact folder",
)
async def create_folder(
    request: Request, caller: CallerDep, db: DbDep, body: FolderCreate
) -> Envelope[Folder]:
    folder = await service.create_folder(db, caller.org_id, body.name, body.description)
    return ok(request, Folder.of(folder))


@router.get(
    "/folders/{folder_id}",
    response_model=Envelope[Folder],
    responses=error_responses(404),
    summary="Get a contact folder",
)
async def get_folder(
    request: Request, caller: CallerDep, db: DbDep, folder_id: str
) -> Envelope[Folder]:
    return ok(request, Folder.of(await service.get_folder(db, caller.org_id, folder_id)))


@router.patch(
    "/folders/{folder_id}",
    response_model=Envelope[Folder],
    responses=error_responses(400, 404, 422),
    summary="Rename a contact folder or change its description",
)
async def update_folder(
    request: Request, caller: CallerDep, db: DbDep, folder_id: str, body: FolderUpdate
) -> Envelope[Folder]:
    folder = await service.update_folder(db, caller.org_id, folder_id, body.model_dump())
    return ok(request, Folder.of(folder))


@router.delete(
    "/folders/{folder_id}",
    response_model=Envelope[FolderDeleted],
    responses=error_responses(404),
    summary="Delete a folder and every contact in it",
)
async def delete_folder(
    request: Request, caller: CallerDep, db: DbDep, folder_id: str
) -> Envelope[FolderDeleted]:
    deleted_id, count = await service.delete_folder(db, caller.org_id, folder_id)
    return ok(request, FolderDeleted(id=deleted_id, contacts_deleted=count))


# --- import -----------------------------------------------------------------------------------


def _form_text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed.field(name, "must be a text field")
    return value.strip() or None


def form_flag(form: FormData, name: str) -> bool:
    """A boolean form field: true/false, 1/0, yes/no, on/off (absent: false)."""
    value = (_form_text(form, name) or "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationFailed.field(name, "must be true or false")


def form_file(form: FormData) -> UploadFile:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ValidationFailed.field("file", "is required: a CSV file")
    return upload


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


@router.post(
    "/import",
    response_model=Envelope[ImportResult],
    responses=error_responses(400, 404, 422),
    summary="Import contacts from a CSV file or a JSON list",
    description="multipart/form-data (file, folder_id, overwrite_existing) is read as it "
    "arrives, in flat memory, up to VOXLINE_CONTACTS_IMPORT_MAX_BYTES; the JSON form "
    "(contacts, folder_id, overwrite_existing) is limited to VOXLINE_MAX_BODY_BYTES. Rows "
    "are written a thousand at a time; a bad row is reported in error_details with its row "
    "number and does not stop the import.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": IMPORT_FORM_SCHEMA},
                "application/json": {"schema": ContactImportJson.model_json_schema()},
            },
        }
    },
)
async def import_contacts(request: Request, caller: CallerDep, db: DbDep) -> Envelope[ImportResult]:
    if is_multipart(request):
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form_file(form)
            report = await imports.import_csv(
                db,
                caller.org_id,
                upload.file,
                folder_id=_form_text(form, "folder_id"),
                overwrite=form_flag(form, "overwrite_existing"),
            )
        return ok(request, ImportResult.of(report))
    body = await request.body()
    try:
        parsed = ContactImportJson.model_validate_json(body or b"null")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise BadRequest("Request body is not valid JSON") from None
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    report = await imports.import_list(
        db,
        caller.org_id,
        parsed.contacts,
        folder_id=parsed.folder_id,
        overwrite=parsed.overwrite_existing,
    )
    return ok(request, ImportResult.of(report))


# --- contacts ---------------------------------------------------------------------------------


@router.get(
    "",
    response_model=ListEnvelope[Contact],
    responses=error_responses(404, 422),
    summary="List contacts, newest first",
    description="page (from 1) is another way to say offset = (page - 1) * limit.",
)
async def list_contacts(
    request: Request,
    caller: CallerDep,
    db: DbDep,
    folder_id: str | None = None,
    search: Annotated[
        StoredText | None,
        Query(max_length=200, description="Part of the name, phone number or email, any case"),
    ] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    page_number: Annotated[
        int | None, Query(alias="page", ge=1, le=MAX_OFFSET // 100, description="Page from 1")
    ] = None,
) -> ListEnvelope[Contact]:
    if page_number is not None:
        if offset:
            raise ValidationFailed.field("page", "send page or offset, not both")
        offset = (page_number - 1) * limit
    found = await service.list_contacts(
        db, caller.org_id, folder_id=folder_id, search=search, limit=limit, offset=offset
    )
    return page(request, [Contact.of(c) for c in found.items], found.total, limit, offset)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[Contact],
    responses=error_responses(400, 404, 409, 422),
    summary="Add a contact",
    description="Without folder_id the contact goes to the default folder. A phone number "
    "already in the folder is a 409.",
)
async def create_contact(
    request: Request, caller: CallerDep, db: DbDep, body: ContactCreate
) -> Envelope[Contact]:
    contact = await service.create_contact(db, caller.org_id, body.folder_id, body.fields())
    return ok(request, Contact.of(contact))


@router.get(
    "/{contact_id}",
    response_model=Envelope[Contact],
    responses=error_responses(404),
    summary="Get a contact",
)
async def get_contact(
    request: Request, caller: CallerDep, db: DbDep, contact_id: str
) -> Envelope[Contact]:
    return ok(request, Contact.of(await service.get_contact(db, caller.org_id, contact_id)))


@router.patch(
    "/{contact_id}",
    response_model=Envelope[Contact],
    responses=error_responses(400, 404, 409, 422),
    summary="Update a contact",
)
async def update_contact(
    request: Request, caller: CallerDep, db: DbDep, contact_id: str, body: ContactUpdate
) -> Envelope[Contact]:
    folder_id: Any = body.folder_id
    contact = await service.update_contact(
        db,
        caller.org_id,
        contact_id,
        body.fields(),
        folder_id=folder_id if isinstance(folder_id, str) else None,
    )
    return ok(request, Contact.of(contact))


@router.delete(
    "/{contact_id}",
    response_model=Envelope[ContactDeleted],
    responses=error_responses(404),
    summary="Delete a contact",
)
async def delete_contact(
    request: Request, caller: CallerDep, db: DbDep, contact_id: str
) -> Envelope[ContactDeleted]:
    return ok(
        request, ContactDeleted(id=await service.delete_contact(db, caller.org_id, contact_id))
    )
