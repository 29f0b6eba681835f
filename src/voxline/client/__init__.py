"""The Python SDK of Voxline's public API.

    from voxline.client import Voxline

    with Voxline("http://127.0.0.1:8000", api_key) as vx:
        call = vx.calls.create(agent_id, "+14155550123")
        for c in vx.calls.iter(status="completed"):
            print(c.id, c.duration_seconds)

It depends on httpx and pydantic only, never on the server's modules, so it can be lifted
into its own distribution unchanged.
"""

from voxline.client._client import AsyncVoxline, Voxline
from voxline.client._http import NO_RETRY, RetryPolicy
from voxline.client.calls import new_idempotency_key
from voxline.client.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    Gone,
    InternalError,
    NotFound,
    PayloadTooLarge,
    PaymentRequired,
    ProviderError,
    RateLimited,
    Unauthorized,
    ValidationError,
    VoxlineAPIError,
    VoxlineClientError,
)
from voxline.client.models import (
    ENDED_STATUSES,
    Agent,
    BatchAnalytics,
    BatchCall,
    BatchContact,
    BatchStatusChange,
    BulkDeleteResult,
    Call,
    CallSettings,
    Deleted,
    Page,
    Pagination,
    PhoneNumber,
    PhoneNumberRef,
    Timeline,
    TimelineEntry,
    Tool,
    Transcript,
    TranscriptTurn,
    Voice,
    WebhookEndpoint,
    WebhookEndpointWithSecret,
)
from voxline.client.signatures import WebhookVerificationFailed, verify_webhook

__all__ = [
    "ENDED_STATUSES",
    "NO_RETRY",
    "Agent",
    "AsyncVoxline",
    "BadRequest",
    "BatchAnalytics",
    "BatchCall",
    "BatchContact",
    "BatchStatusChange",
    "BulkDeleteResult",
    "Call",
    "CallSettings",
    "Conflict",
    "ConnectionFailed",
    "Deleted",
    "Forbidden",
    "Gone",
    "InternalError",
    "NotFound",
    "Page",
    "Pagination",
    "PayloadTooLarge",
    "PaymentRequired",
    "PhoneNumber",
    "PhoneNumberRef",
    "ProviderError",
    "RateLimited",
    "RetryPolicy",
    "Timeline",
    "TimelineEntry",
    "Tool",
    "Transcript",
    "TranscriptTurn",
    "Unauthorized",
    "ValidationError",
    "Voice",
    "Voxline",
    "VoxlineAPIError",
    "VoxlineClientError",
    "WebhookEndpoint",
    "WebhookEndpointWithSecret",
    "WebhookVerificationFailed",
    "new_idempotency_key",
    "verify_webhook",
]
