"""The errors a Voxline client raises.

Every answer of the API that is not a success becomes a :class:`VoxlineAPIError` whose class
mirrors the error envelope's ``code`` (falling back on the HTTP status)::

    VoxlineClientError
    ├── ConnectionFailed          the server could not be reached (after the retries)
    └── VoxlineAPIError           the server answered with an error
        ├── BadRequest            400 bad_request
        ├── Unauthorized          401 unauthorized
        ├── PaymentRequired       402 payment_required
        ├── Forbidden             403 forbidden
        ├── NotFound              404 not_found
        ├── Conflict              409 conflict
        ├── Gone                  410 gone (a recording deleted after the retention period)
        ├── PayloadTooLarge       413 payload_too_large
        ├── ValidationError       422 validation_error
        ├── RateLimited           429 rate_limit_exceeded
        ├── InternalError         500 internal_error (and any other 5xx)
        └── ProviderError         502 provider_error

Messages hold what the server said and never a request header, so no API key.
"""

from __future__ import annotations

from typing import Any


class VoxlineClientError(Exception):
    """Base of everything a client raises on purpose."""


class ConnectionFailed(VoxlineClientError):
    """No answer from the server: refused, reset or timed out, on every attempt."""


class VoxlineAPIError(VoxlineClientError):
    """The API answered with its error envelope (or, from a proxy, a bare error status)."""

    # Each subclass's own code; an instance takes the server's when it sends one.
    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code or type(self).code
        self.details: dict[str, Any] = details or {}
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class BadRequest(VoxlineAPIError):
    code = "bad_request"


class Unauthorized(VoxlineAPIError):
    code = "unauthorized"


class PaymentRequired(VoxlineAPIError):
    code = "payment_required"


class Forbidden(VoxlineAPIError):
    code = "forbidden"


class NotFound(VoxlineAPIError):
    code = "not_found"


class Conflict(VoxlineAPIError):
    code = "conflict"


class Gone(VoxlineAPIError):
    code = "gone"


class PayloadTooLarge(VoxlineAPIError):
    code = "payload_too_large"


class ValidationError(VoxlineAPIError):
    """422: ``details`` holds ``field`` and ``reason`` of the first error and ``errors``."""

    code = "validation_error"

    @property
    def field(self) -> str | None:
        value = self.details.get("field")
        return value if isinstance(value, str) else None


class RateLimited(VoxlineAPIError):
    """429: ``retry_after`` is the seconds the server asked to wait, when it said."""

    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class InternalError(VoxlineAPIError):
    code = "internal_error"


class ProviderError(VoxlineAPIError):
    """502: a telephony or voice provider refused; ``details.call_id`` names a failed call."""

    code = "provider_error"


_BY_CODE: dict[str, type[VoxlineAPIError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        PaymentRequired,
        Forbidden,
        NotFound,
        Conflict,
        Gone,
        PayloadTooLarge,
        ValidationError,
        RateLimited,
        InternalError,
        ProviderError,
    )
}
_BY_STATUS: dict[int, type[VoxlineAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    422: ValidationError,
    429: RateLimited,
    500: InternalError,
    502: ProviderError,
}


def error_class(status: int, code: str | None) -> type[VoxlineAPIError]:
    """The class for an error answer: by the envelope's code, else by the status."""
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return InternalError if status >= 500 else VoxlineAPIError
