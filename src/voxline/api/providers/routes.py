"""One router for every provider: ``POST /webhooks/{provider}/{kind}`` and the media stream
at ``/media/{provider}``, served through the provider's callbacks
(:mod:`voxline.telephony.callbacks`). These are the URLs providers are configured with
(README, "Connecting a real Twilio, Telnyx or Plivo account").

Webhooks are read within ``webhook_max_body_bytes`` before anything else (400 beyond,
without reading the rest); URLs are checked as the provider requested them, i.e. under
``VOXLINE_PUBLIC_BASE_URL``. A provider Voxline does not serve is 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, WebSocket

from voxline.api.deps import runtime_of
from voxline.api.providers.host import CallbackHost
from voxline.api.providers.media import POLICY_VIOLATION, serve_media_stream
from voxline.errors import BadRequest, NotFound
from voxline.runtime import Runtime
from voxline.telephony.callbacks import ProviderCallbacks, WebhookRequest

router = APIRouter(include_in_schema=False)


def _callbacks(runtime: Runtime, provider: str) -> ProviderCallbacks | None:
    return runtime.callbacks.get(provider)


async def webhook_body(request: Request, limit: int) -> bytes:
    """The body of an (as yet unauthenticated) webhook, at most ``limit`` bytes long; 400
    beyond, without reading the rest."""
    too_large = BadRequest("Webhook body is too large")
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/webhooks/{provider}/{kind}")
async def provider_webhook(provider: str, kind: str, request: Request) -> Response:
    """A provider's webhook, answered by that provider's callbacks."""
    runtime = runtime_of(request)
    callbacks = _callbacks(runtime, provider)
    if callbacks is None:
        raise NotFound.resource("Webhook")
    settings = runtime.settings
    url = f"{settings.base_url}{request.url.path}"
    webhook = WebhookRequest(
        kind=kind,
        method=request.method,
        url=f"{url}?{request.url.query}" if request.url.query else url,
        query=dict(request.query_params),
        headers={name.lower(): value for name, value in request.headers.items()},
        body=await webhook_body(request, settings.webhook_max_body_bytes),
        max_json_depth=settings.webhook_max_json_depth,
    )
    reply = await callbacks.handle(webhook, CallbackHost(runtime, provider))
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)


@router.websocket("/media/{provider}")
async def provider_media(provider: str, socket: WebSocket) -> None:
    """A provider's media stream of a call, checked as that provider's callbacks say."""
    runtime = runtime_of(socket)
    callbacks = _callbacks(runtime, provider)
    if callbacks is None:
        await socket.close(code=POLICY_VIOLATION)
        return
    admission = callbacks.admit_media(
        dict(socket.query_params),
        {name.lower(): value for name, value in socket.headers.items()},
        runtime.settings.base_url,
    )
    await serve_media_stream(socket, provider, admission)
