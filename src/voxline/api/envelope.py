"""The response envelopes of DESIGN §6 as Pydantic models (so OpenAPI describes them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from starlette.requests import Request

REQUEST_ID_HEADER = "X-Request-ID"

T = TypeVar("T")


class Meta(BaseModel):
    request_id: str = Field(description="UUID of this request; also in the X-Request-ID header")
    ts: str = Field(description="Server time, ISO-8601 UTC with microseconds")


class Pagination(BaseModel):
    total: int
    limit: int
    offset: int
    has_more: bool


class Envelope(BaseModel, Generic[T]):
    data: T
    meta: Meta


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
    pagination: Pagination
    meta: Meta


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    error: ErrorBody
    meta: Meta


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def meta_for(request: Request) -> Meta:
    request_id = getattr(request.state, "request_id", None) or "unknown"
    return Meta(request_id=request_id, ts=timestamp())


def ok(request: Request, data: T) -> Envelope[T]:
    return Envelope[T](data=data, meta=meta_for(request))


def page(request: Request, items: list[T], total: int, limit: int, offset: int) -> ListEnvelope[T]:
    return ListEnvelope[T](
        data=items,
        pagination=Pagination(
            total=total, limit=limit, offset=offset, has_more=offset + len(items) < total
        ),
        meta=meta_for(request),
    )


_ERROR_DESCRIPTIONS = {
    400: "Malformed request (e.g. unparseable JSON)",
    401: "Missing, unknown or revoked API key",
    402: "Not enough credits",
    403: "Forbidden",
    404: "Not found, or owned by another organization",
    409: "Conflict with the resource's current state",
    410: "Deleted on purpose (a recording past the retention period)",
    413: "Request body larger than VOXLINE_MAX_BODY_BYTES",
    422: "Validation error; details name the field",
    429: "Rate limit exceeded; see Retry-After",
    500: "Unexpected server error",
    502: "Telephony or voice provider error",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error statuses.

    401, 413, 422, 429 and 500 are always listed: every route authenticates, refuses bodies
    over the size limit, validates its path and query, is rate limited and may fail
    unexpectedly. Listing 422 also keeps FastAPI
    from documenting its own validation-error shape, which Voxline never sends.
    """
    wanted = sorted({*statuses, 401, 413, 422, 429, 500})
    return {
        status: {"model": ErrorEnvelope, "description": _ERROR_DESCRIPTIONS[status]}
        for status in wanted
    }
