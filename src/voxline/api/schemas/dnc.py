"""Request and response bodies of ``/dnc``, the do-not-call list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voxline.api.schemas.contacts import RowError
from voxline.api.schemas.text import StoredText
from voxline.services import contact_imports as imports
from voxline.services import dnc as service


class DncCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    phone_number: Annotated[StoredText, Field(max_length=40, description="E.164")]
    reason: Annotated[StoredText, Field(max_length=service.REASON_MAX)] | None = None


class DncEntry(BaseModel):
    id: str = Field(description="UUID")
    phone_number: str
    reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, entry: service.Entry) -> DncEntry:
        return cls(
            id=entry.id,
            phone_number=entry.phone_number,
            reason=entry.reason,
            created_at=entry.created_at,
        )


class DncDeleted(BaseModel):
    phone_number: str
    deleted: Literal[True] = True


class DncImportResult(BaseModel):
    imported: int
    skipped: int = Field(description="Numbers already listed, or repeated in the file")
    errors: int
    error_details: list[RowError]
    error_details_omitted: int

    @classmethod
    def of(cls, report: imports.ImportReport) -> DncImportResult:
        return cls(
            imported=report.imported,
            skipped=report.skipped,
            errors=report.errors,
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
            "description": "UTF-8 CSV with a phone (or phone_number) column and an optional "
            "reason column",
        }
    },
}
