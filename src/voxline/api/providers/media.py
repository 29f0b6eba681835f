"""Provider media streams: one WebSocket per live call, checked before any audio flows.

A media stream is only accepted for an active call of that provider whose provider call id
matches the stream's, that presents the call's media token, and that is the call's first
stream (on any node); any API node can take one, and the voice session runs where the
socket lands. A refused socket is closed (1008) and logged with the reason, never the token.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from fastapi import WebSocket
from starlette.requests import HTTPConnection

from voxline.api.deps import runtime_of
from voxline.domain.calls import AnsweredBy, CallEvent
from voxline.errors import NotFound, ProviderError
from voxline.logging import get_logger
from voxline.services import webhook_receipts
from voxline.services.provider_calls import KnownCall, find_provider_call, record_dtmf
from voxline.telephony.base import ProviderCall, ProviderEvent
from voxline.telephony.callbacks import MediaAdmission, event_key
from voxline.telephony.websocket import WebSocketTransport
from voxline.voice.channel import LineClosed

log = get_logger("api.providers")

POLICY_VIOLATION = 1008


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
    key = event_key(call_id, "media-stream")
    return await webhook_receipts.claim(db, provider, key, retention=retention)


async def _refuse(socket: WebSocket, provider: str, reason: str, call_id: str | None) -> None:
    """Close a media socket that may not carry a call's audio, saying why (never the token)."""
    log.warning(
        "media socket refused", extra={"provider": provider, "reason": reason, "call_id": call_id}
    )
    await socket.close(code=POLICY_VIOLATION)


async def serve_media_stream(socket: WebSocket, provider: str, admission: MediaAdmission) -> None:
    """Hold one provider media stream: wait for its start (at most
    ``media_start_timeout_seconds``, with at most ``media_pending_per_address`` sockets of
    one address waiting), accept it only with the call's media token (from the start
    message, else the token presented at the upgrade, in a header or the URL; see
    :mod:`~voxline.telephony.media_tokens`), only for an active call of ``provider`` whose
    provider call id matches (and whose call id agrees with the one in the URL, if any),
    only when the upgrade's signature (where the provider signs it) is the call's
    account's, and only for
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

    transport = WebSocketTransport(socket, admission.codec, on_hangup=hang_up, on_dtmf=dtmf)
    try:
        async with asyncio.timeout(settings.media_start_timeout_seconds):
            start = await transport.wait_start()
            url_call_id = admission.url_call_id
            if start.call_id and url_call_id and start.call_id != url_call_id:
                raise NotFound.resource("Call")
            call_id = start.call_id or url_call_id
            token = start.token if start.token is not None else admission.upgrade_token
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
    signed = admission.upgrade_signed
    if signed is not None and not signed(call.credentials):
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
