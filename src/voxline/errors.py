"""The one error tree of Voxline.

Every error a client can see is a :class:`VoxlineError`; each class carries its API ``code``
and HTTP ``status``. Services raise them, one handler in ``api/errors.py`` renders them.

    VoxlineError
    ├── BadRequest            400 bad_request
    ├── Unauthorized          401 unauthorized
    ├── PaymentRequired       402 payment_required
    ├── Forbidden             403 forbidden
    ├── NotFound              404 not_found
    ├── Conflict              409 conflict
    ├── Gone                  410 gone            (a recording deleted by the retention policy)
    ├── PayloadTooLarge       413 payload_too_large
    ├── ValidationFailed      422 validation_error
    ├── RateLimited           429 rate_limit_exceeded
    ├── InternalError         500 internal_error
    ├── ProviderError         502 provider_error  (also raised by telephony adapters)
    └── Unavailable           503 unavailable     (this process is shutting down)
"""

from __future__ import annotations

from typing import Any, ClassVar


class VoxlineError(Exception):
    """Base of every error that maps to an API response."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class BadRequest(VoxlineError):
    code = "bad_request"
    status = 400


class Unauthorized(VoxlineError):
    code = "unauthorized"
    status = 401


class PaymentRequired(VoxlineError):
    code = "payment_required"
    status = 402


class Forbidden(VoxlineError):
    code = "forbidden"
    status = 403


class NotFound(VoxlineError):
    code = "not_found"
    status = 404

    @classmethod
    def resource(cls, kind: str, resource_id: object | None = None) -> NotFound:
        suffix = f": {resource_id}" if resource_id is not None else ""
        return cls(f"{kind} not found{suffix}")


class Conflict(VoxlineError):
    code = "conflict"
    status = 409


class Gone(VoxlineError):
    """The resource existed and was deleted on purpose (a call's recording, pruned by the
    retention policy); asking again will not bring it back."""

    code = "gone"
    status = 410


class PayloadTooLarge(VoxlineError):
    code = "payload_too_large"
    status = 413

    @classmethod
    def limit(cls, max_bytes: int) -> PayloadTooLarge:
        return cls(f"Request body is larger than {max_bytes} bytes", {"max_bytes": max_bytes})


class ValidationFailed(VoxlineError):
    code = "validation_error"
    status = 422

    @classmethod
    def field(cls, field: str, reason: str, **extra: Any) -> ValidationFailed:
        return cls(f"Invalid {field}: {reason}", {"field": field, "reason": reason, **extra})


class RateLimited(VoxlineError):
    code = "rate_limit_exceeded"
    status = 429

    def __init__(self, limit: int, reset_at: str, retry_after: int) -> None:
        super().__init__("Rate limit exceeded", {"limit": limit, "reset_at": reset_at})
        self.retry_after = retry_after


class InternalError(VoxlineError):
    code = "internal_error"
    status = 500


class ProviderError(VoxlineError):
    """A telephony or voice vendor failed.

    ``retryable`` says whether the same request may succeed later (timeouts, 5xx, 408, 429).
    """

    code = "provider_error"
    status = 502

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retryable: bool,
        provider_code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        details: dict[str, Any] = {"provider": provider}
        if provider_code is not None:
            details["provider_code"] = provider_code
        if http_status is not None:
            details["http_status"] = http_status
        super().__init__(message, details)
        self.provider = provider
        self.retryable = retryable
        self.provider_code = provider_code
        self.http_status = http_status


class Unavailable(VoxlineError):
    """This process takes no new work (it is draining before it stops): the request may
    succeed on another node, after ``retry_after`` seconds (sent as ``Retry-After``)."""

    code = "unavailable"
    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
