"""Recording files behind the expiring signed URLs that the Calls API hands out.

Outside the API prefix and without an API key: the signature in the URL is the authorization
(see ``services.call_records.RecordingLinks``). Not in the OpenAPI document.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from voxline.api.deps import DbDep, SettingsDep
from voxline.services import call_queries

router = APIRouter(tags=["recordings"])


@router.get("/recordings/{call_id}.wav", include_in_schema=False)
async def recording_file(
    call_id: str,
    db: DbDep,
    settings: SettingsDep,
    expires: str | None = None,
    signature: str | None = None,
) -> FileResponse:
    path = await call_queries.signed_recording_file(
        db, settings, call_id, expires=expires, signature=signature
    )
    return FileResponse(path, media_type="audio/wav", filename=f"{call_id}.wav")
