"""Recordings behind the expiring signed URLs that the Calls API hands out.

Outside the API prefix and without an API key: the signature in the URL is the authorization
(see ``services.call_records.RecordingLinks``). Not in the OpenAPI document. A recording on
this host's disk is served here; one in an S3-compatible bucket is a 302 redirect to a
presigned URL of the object (``VOXLINE_RECORDINGS_S3_DOWNLOAD_TTL_SECONDS``), so its bytes
never pass through Voxline.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

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
) -> Response:
    download = await call_queries.signed_recording_file(
        db, settings, call_id, expires=expires, signature=signature
    )
    if download.path is None:
        assert download.url is not None
        # No caching: the presigned URL expires long before a cache would forget it.
        return RedirectResponse(download.url, 302, headers={"Cache-Control": "no-store"})
    return FileResponse(download.path, media_type="audio/wav", filename=f"{call_id}.wav")
