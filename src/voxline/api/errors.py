"""The one error handler: every failure leaves the API as the error envelope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from voxline.api.envelope import ErrorBody, ErrorEnvelope, meta_for
from voxline.api.schemas.text import ERROR_TYPE as TEXT_POLICY_ERROR
from voxline.errors import RateLimited, Unavailable, VoxlineError
from voxline.logging import get_logger

log = get_logger("api")

_JSON_ERRORS = {"json_invalid", "json_type"}


def error_response(
    request: Request, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    body = ErrorEnvelope(
        error=ErrorBody(code=code, message=message, details=details or {}),
        meta=meta_for(request),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _error_field(err: Mapping[str, Any]) -> str:
    """The dotted field of one pydantic error; a text-policy error inside an object names the
    key within it (``variables.first_name``)."""
    field = _field_path(err.get("loc", ()))
    ctx = err.get("ctx") or {}
    inner = ctx.get("path") if err.get("type") == TEXT_POLICY_ERROR else None
    return f"{field}.{inner}" if inner else field


async def _voxline_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VoxlineError)
    response = error_response(request, exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, RateLimited | Unavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    if exc.status >= 500:
        log.warning("request failed", extra={"code": exc.code, "path": request.url.path})
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(err.get("type") in _JSON_ERRORS for err in errors):
        return error_response(request, 400, "bad_request", "Request body is not valid JSON")
    items = [
        {"field": _error_field(err), "reason": str(err.get("msg", "invalid"))} for err in errors
    ]
    first = items[0] if items else {"field": "body", "reason": "invalid"}
    message = f"Invalid {first['field']}: {first['reason']}"
    return error_response(request, 422, "validation_error", message, {**first, "errors": items})


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(
        exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error"
    )
    message = "Route not found" if exc.status_code == 404 else str(exc.detail)
    response = error_response(request, exc.status_code, code, message)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def unexpected_error_response(request: Request, exc: BaseException) -> JSONResponse:
    """500 without internals in the body; the traceback goes to the log only."""
    log.error(
        "unhandled error",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"path": request.url.path, "request_id": getattr(request.state, "request_id", None)},
    )
    return error_response(request, 500, "internal_error", "Internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(VoxlineError, _voxline_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
