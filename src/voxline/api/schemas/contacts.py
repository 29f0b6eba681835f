"""Request and response bodies of ``/contacts`` and ``/contacts/folders``.

A contact's field rules live in :mod:`voxline.domain.contacts` (E.164 phone numbers, IANA
time zones, lengths); the types here document them for OpenAPI and reject wrong JSON types.
``metadata`` is another name for ``custom_fields``; ``phone`` and ``name`` are output aliases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field, StringConstraints

from voxline.api.schemas.text import StoredText
from voxline.domain import contacts as rules
from voxline.errors import ValidationFailed
from voxline.services import contact_imports as imports
from voxline.services import contacts as service

_INPUT = ConfigDict(extra="forbid", strict=True)

FolderName = Annotated[
    StoredText,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.FOLDER_NAME_MAX),
]
FolderDescription = Annotated[StoredText, Field(max_length=rules.FOLDER_DESCRIPTION_MAX)]
Phone = Annotated[
    StoredText, Field(max_length=40, description="E.164, e.g. +14155550100 (spaces and dashes ok)")
]
Timezone = Annotated[
    StoredText, Field(max_length=rules.TIMEZONE_MAX, description="IANA name, e.g. Europe/Paris")
]
CustomFields = Annotated[
    dict[str, Any],
    Field(
        description=f"Flat object of extra fields (at most {rules.CUSTOM_FIELDS_MAX} keys; "
        "string, number or boolean values)"
    ),
]


FirstName = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["first_name"])]
LastName = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["last_name"])]
Email = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["email"], description="Email")]
CompanyName = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["company_name"])]
Industry = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["industry"])]
Location = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["location"])]
PinCode = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["pin_code"])]
Keywords = Annotated[StoredText, Field(max_length=rules.TEXT_FIELDS["keywords"])]


class FolderCreate(BaseModel):
    model_config = _INPUT

    name: FolderName
    description: FolderDescription | None = None


class FolderUpdate(BaseModel):
    model_config = _INPUT

    name: FolderName | MISSING = MISSING
    description: FolderDescription | MISSING | None = MISSING


class Folder(BaseModel):
    id: str = Field(description="UUID")
    name: str
    description: str | None
    contact_count: int
    is_default: bool = Field(description="The folder contacts without a folder_id go to")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, folder: service.Folder) -> Folder:
        return cls(
            id=folder.id,
            name=folder.name,
            description=folder.description,
            contact_count=folder.contact_count,
            is_default=folder.is_default,
            created_at=folder.created_at,
            updated_at=folder.updated_at,
        )


class FolderDeleted(BaseModel):
    id: str
    deleted: Literal[True] = True
    contacts_deleted: int


class _ContactFields(BaseModel):
    model_config = _INPUT

    def fields(self) -> dict[str, Any]:
        """The contact fields sent, ``metadata`` as ``custom_fields``."""
        values = {k: v for k, v in self.model_dump().items() if k != "folder_id"}
        if "metadata" in values:
            if "custom_fields" in values:
                raise ValidationFailed.field(
                    "metadata", "is another name for custom_fields; send only one of them"
                )
            values["custom_fields"] = values.pop("metadata")
        return values


class ContactCreate(_ContactFields):
    folder_id: str | None = Field(default=None, description="Default: the default folder")
    phone_number: Phone
    first_name: FirstName | None = None
    last_name: LastName | None = None
    email: Email | None = None
    company_name: CompanyName | None = None
    industry: Industry | None = None
    location: Location | None = None
    pin_code: PinCode | None = None
    keywords: Keywords | None = Field(default=None, description="Comma-separated")
    timezone: Timezone | None = None
    custom_fields: CustomFields | MISSING = MISSING
    metadata: CustomFields | MISSING = MISSING


class ContactUpdate(_ContactFields):
    """Only the fields sent change; null clears a field. ``folder_id`` moves the contact."""

    folder_id: str | MISSING = MISSING
    phone_number: Phone | MISSING = MISSING
    first_name: FirstName | MISSING | None = MISSING
    last_name: LastName | MISSING | None = MISSING
    email: Email | MISSING | None = MISSING
    company_name: CompanyName | MISSING | None = MISSING
    industry: Industry | MISSING | None = MISSING
    location: Location | MISSING | None = MISSING
    pin_code: PinCode | MISSING | None = MISSING
    keywords: Keywords | MISSING | None = MISSING
    timezone: Timezone | MISSING | None = MISSING
    custom_fields: CustomFields | MISSING | None = MISSING
    metadata: CustomFields | MISSING | None = MISSING


class Contact(BaseModel):
    id: str = Field(description="UUID")
    folder_id: str
    phone_number: str = Field(description="E.164")
    phone: str = Field(description="Alias of phone_number")
    name: str | None = Field(description="First and last name")
    first_name: str | None
    last_name: str | None
    email: str | None
    company_name: str | None
    industry: str | None
    location: str | None
    pin_code: str | None
    keywords: str | None
    timezone: str | None = Field(description="IANA time zone; batch calls use it")
    custom_fields: dict[str, Any]
    metadata: dict[str, Any] = Field(description="Alias of custom_fields")
    call_count: int
    last_called_at: datetime | None
    last_call_outcome: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: service.Contact) -> Contact:
        f = contact.fields
        name = " ".join(part for part in (f["first_name"], f["last_name"]) if part) or None
        return cls(
            id=contact.id,
            folder_id=contact.folder_id,
            phone_number=contact.phone_number,
            phone=contact.phone_number,
            name=name,
            **f,
            custom_fields=contact.custom_fields,
            metadata=contact.custom_fields,
            call_count=contact.call_count,
            last_called_at=contact.last_called_at,
            last_call_outcome=contact.last_call_outcome,
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )


class ContactDeleted(BaseModel):
    id: str
    deleted: Literal[True] = True


class ContactImportJson(BaseModel):
    """The JSON form of ``POST /contacts/import``."""

    model_config = _INPUT

    contacts: list[dict[str, Any]] = Field(
        min_length=1,
        description="Contacts with the fields of POST /contacts (phone is an alias of "
        "phone_number, metadata of custom_fields); a bad one is reported by its position",
    )
    folder_id: str | None = Field(default=None, description="Default: the default folder")
    overwrite_existing: bool = Field(
        default=False, description="Update a contact whose phone number is already in the folder"
    )


class RowError(BaseModel):
    row: int = Field(description="CSV: the spreadsheet row (the header is row 1); JSON: 1-based")
    phone: str | None
    reason: str


class ImportResult(BaseModel):
    imported: int
    updated: int
    skipped: int
    errors: int
    folder_id: str | None
    error_details: list[RowError] = Field(
        description=f"The first {imports.ERROR_DETAILS_MAX} errors"
    )
    error_details_omitted: int = Field(description="Errors beyond those listed")

    @classmethod
    def of(cls, report: imports.ImportReport) -> ImportResult:
        return cls(
            imported=report.imported,
            updated=report.updated,
            skipped=report.skipped,
            errors=report.errors,
            folder_id=report.folder_id or None,
            error_details=[
                RowError(row=e.row, phone=e.phone, reason=e.reason) for e in report.error_details
            ],
            error_details_omitted=report.error_details_omitted,
        )


IMPORT_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "UTF-8 CSV; a phone (or phone_number) column is required; name, "
            "first_name, last_name, email, company_name, industry, location, pin_code, "
            "keywords, timezone are optional; other columns go to custom_fields",
        },
        "folder_id": {"type": "string", "description": "Default: the default folder"},
        "overwrite_existing": {"type": "boolean", "default": False},
    },
}
