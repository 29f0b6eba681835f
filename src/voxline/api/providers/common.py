"""What every provider's webhooks and media streams share.

A webhook whose signature does not verify answers 403 and changes nothing, with the same
body whether or not the call or number it names exists. A call is only ever found through
the credential that verified the signature: provider call ids are not secret, and two
organizations may both have a call claiming one. URLs are checked as the provider requested
them, i.e. under ``VOXLINE_PUBLIC_BASE_URL``. A media stream is
only accepted for an active call of that provider whose provider call id matches the
stream's, that presents the call's media token, and that is the call's first stream (on
any node); any API node can take one, and the voice session runs where the socket lands.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import accumulate, repeat
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, WebSocket
from starlette.requests import HTTPConnection

from voxline.api.deps import runtime_of
from voxline.domain.calls import AnsweredBy, CallEvent
from voxline.errors import BadRequest, Forbidden, NotFound, ProviderError
from voxline.logging import get_logger
from voxline.services import webhook_receipts
from voxline.services.provider_calls import (
    KnownCall,
    find_provider_call,
    find_provider_calls,
    record_dtmf,
)
from voxline.telephony.base import ProviderCall, ProviderEvent
from voxline.telephony.credentials import ProviderCredentials
from voxline.telephony.websocket import (
    MediaCodec,
    WebSocketTransport,
)
from voxline.voice.channel import LineClosed

log = get_logger("api.providers")

XML = "application/xml"
POLICY_VIOLATION = 1008


INVALID_SIGNATURE = "Invalid webhook signature"


def refused() -> Forbidden:
    """The one answer to a webhook that is not signed by the account it speaks for."""
    return Forbidden(INVALID_SIGNATURE)


async def signed_call(
    request: Request,
    provider: str,
    verifies: Callable[[ProviderCredentials], bool],
    *,
    call_id: str | None = None,
    provider_call_id: str | None = None,
) -> KnownCall:
    """The call a webhook speaks of (by our id from signed data, else the provider's id)
    whose credentials ``verifies`` accepts; 403 :func:`refused` when there is none, be it
    unknown or signed by another account."""
    runtime = runtime_of(request)
    settings, db = runtime.settings, runtime.db
    candidates = await find_provider_calls(
        db, settings, provider, call_id=call_id, provider_call_id=provider_call_id
    )
    for call in candidates:
        if verifies(call.credentials):
            return call
    raise refused()


def public_url(request: Request) -> str:
    """The URL the provider requested, as it knows Voxline."""
    url = f"{runtime_of(request).settings.base_url}{request.url.path}"
    return f"{url}?{request.url.query}" if request.url.query else url


async def apply_once(
    connection: HTTPConnection, provider: str, key: str, events: list[ProviderEvent]
) -> bool:
    """Apply a webhook's events unless the webhook with this ``key`` (see
    :func:`~voxline.services.webhook_receipts.event_key`) was applied before; False for
    such a replay, which changes nothing."""
    runtime = runtime_of(connection)
    retention = timedelta(hours=runtime.settings.webhook_receipt_retention_hours)
    if not await webhook_receipts.claim(runtime.db, provider, key, retention=retention):
        log.info("webhook replay ignored", extra={"provider": provider})
        return False
    try:
        await runtime.on_provider_events(events)
    except BaseException:
        await webhook_receipts.release(runtime.db, provider, key)
        raise
    return True


async def webhook_body(request: Request) -> bytes:
    """The body of an (as yet unauthenticated) webhook, read once and at most
    ``webhook_max_body_bytes`` long; 400 beyond, without reading the rest."""
    cached: bytes | None = getattr(request.state, "webhook_body", None)
    if cached is not None:
        return cached
    limit = runtime_of(request).settings.webhook_max_body_bytes
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
    body = b"".join(chunks)
    request.state.webhook_body = body
    return body


_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
# Opening brackets become 2, closing ones 0, everything else is dropped: minus one each,
# their running sum is the nesting depth.
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def bounded_json(body: bytes, max_depth: int) -> Any:
    """``body`` parsed as JSON, refusing (400) one nested deeper than ``max_depth`` before
    the parser recurses into it (a body of 100,000 ``[`` is a RecursionError otherwise)."""
    steps = _JSON_STRING.sub(b"", body).translate(_DEPTH_STEPS, _NOT_BRACKETS)
    if len(steps) > max_depth and max(accumulate(map(int.__sub__, steps, repeat(1)))) > max_depth:
        raise BadRequest("Webhook body is nested too deeply")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("Webhook body is not JSON") from None


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """An ``application/x-www-form-urlencoded`` body as (name, value) pairs, in order."""
    body = await webhook_body(request)
    try:
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("Webhook body is not form-encoded text") from None


async def answered(connection: HTTPConnection, call_id: str, provider_call_id: str) -> None:
    """Media started: the call is connected (idempotent if a callback said so already)."""
    event = ProviderEvent(
        call_id=call_id,
        event=CallEvent.ANSWERED,
        at=datetime.now(UTC),
        provider_call_id=provider_call_id,
        answered_by=AnsweredBy.HUMAN,
    )
    await runtime_of(connection).on_provider_events([event])


async def hold_media_session(
    connection: HTTPConnection, call_id: str, transport: WebSocketTransport
) -> None:
    """Run the agent on the stream until either side hangs up."""
    try:
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(transport.pump())
            await runtime_of(connection).sessions.run_audio(call_id, transport)
            pump.cancel()
    finally:
        await transport.finish()


async def _first_stream(connection: HTTPConnection, provider: str, call_id: str) -> bool:
    """Record that ``call_id`` has its media stream: True the first time on any node, False
    once a stream was opened for it anywhere (a call has one stream, and a provider does
    not reopen it). Kept as a webhook receipt, so it lasts as long as those."""
    runtime = runtime_of(connection)
    settings, db = runtime.settings, runtime.db
    retention = timedelta(hours=settings.webhook_receipt_retention_hours)
    key = webhook_receipts.event_key(call_id, "media-stream")
    return await webhook_receipts.claim(db, provider, key, retention=retention)


async def _refuse(socket: WebSocket, provider: str, reason: str, call_id: str | None) -> None:
    """Close a media socket that may not carry a call's audio, saying why (never the token)."""
    log.warning(
        "media socket refused", extra={"provider": provider, "reason": reason, "call_id": call_id}
    )
    await socket.close(code=POLICY_VIOLATION)


async def serve_media_stream(
    socket: WebSocket,
    provider: str,
    codec: MediaCodec,
    *,
    url_call_id: str | None = None,
    upgrade_token: str | None = None,
    upgrade_signed: Callable[[ProviderCredentials], bool] | None = None,
) -> None:
    """Hold one provider media stream: wait for its start (at most
    ``media_start_timeout_seconds``, with at most ``media_pending_per_address`` sockets of
    one address waiting), accept it only with the call's media token (from the start
    message, else ``upgrade_token`` from the upgrade's header or URL; see
    :mod:`~voxline.telephony.media_tokens`), only for an active call of ``provider`` whose
    provider call id matches (and whose call id agrees with the one in the URL, if any),
    only when ``upgrade_signed`` (if given) accepts the call's credentials, and only for
    the call's first stream, on any node. Then mark the call answered, keep
    pressed keys, let the agent hang up through the provider's API, and run the voice
    session until either side hangs up. A refused socket is closed (1008) before any audio
    is sent or any session is built, and logged with the reason, never the token."""
    runtime = runtime_of(socket)
    settings, db, pending = runtime.settings, runtime.db, runtime.pending_sockets
    address = socket.client.host if socket.client else ""
    if not pending.admit(address):
        log.info("media socket refused", extra={"provider": provider, "reason": "too many"})
        await socket.close(code=POLICY_VIOLATION)
        return
    try:
        await socket.accept()
    except BaseException:
        pending.leave(address)
        raise
    call: KnownCall | None = None
    stream_call_id: str | None = None

    async def hang_up() -> None:
        if call is None or not stream_call_id:
            return
        line = ProviderCall(call.call_id, stream_call_id, call.credentials)
        try:
            await runtime.providers.get(provider).hangup(line)
        except ProviderError as exc:
            log.warning("hang-up failed", extra={"call_id": call.call_id, "code": exc.code})

    async def dtmf(digit: str) -> None:
        if call is not None:
            await record_dtmf(db, call.call_id, digit)

    transport = WebSocketTransport(socket, codec, on_hangup=hang_up, on_dtmf=dtmf)
    try:
        async with asyncio.timeout(settings.media_start_timeout_seconds):
            start = await transport.wait_start()
            if start.call_id and url_call_id and start.call_id != url_call_id:
                raise NotFound.resource("Call")
            call_id = start.call_id or url_call_id
            token = start.token if start.token is not None else upgrade_token
            problem = runtime.media_tokens.problem(token, provider, call_id or "", time.time())
            if problem is not None:
                await _refuse(socket, provider, f"token {problem}", call_id)
                return
            call = await find_provider_call(db, settings, provider, call_id=call_id)
    except (LineClosed, NotFound, TimeoutError):
        await socket.close(code=POLICY_VIOLATION)
        return
    finally:
        pending.leave(address)
    if call.status.is_terminal or call.provider_call_id not in (None, start.provider_call_id):
        await _refuse(socket, provider, "no such live call", call.call_id)
        return
    if upgrade_signed is not None and not upgrade_signed(call.credentials):
        await _refuse(socket, provider, "upgrade signature", call.call_id)
        return
    if provider not in runtime.providers:
        await socket.close(code=POLICY_VIOLATION)
        return
    stream_call_id = start.provider_call_id
    live = runtime.live_streams
    claimed = live.claim(call.call_id)
    if not claimed or not await _first_stream(socket, provider, call.call_id):
        if claimed:
            live.release(call.call_id)
        await _refuse(socket, provider, "stream already opened", call.call_id)
        return
    try:
        await answered(socket, call.call_id, start.provider_call_id)
        await hold_media_session(socket, call.call_id, transport)
    finally:
        live.release(call.call_id)
