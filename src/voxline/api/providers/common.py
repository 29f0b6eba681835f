"""What every provider's webhooks and media streams share.

A webhook whose signature does not verify answers 403 and changes nothing. URLs are checked
as the provider requested them, i.e. under ``VOXLINE_PUBLIC_BASE_URL``. A media stream is
only accepted for an active call of that provider whose provider call id matches the
stream's; any API node can take one, and the voice session runs where the socket lands.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.requests import HTTPConnection

from voxline.domain.calls import AnsweredBy, CallEvent
from voxline.engine.sessions import VoiceSessions
from voxline.engine.wakeup import FINALIZE, notify
from voxline.errors import BadRequest
from voxline.services.call_events import apply_event
from voxline.telephony.base import ProviderEvent
from voxline.telephony.websocket import WebSocketTransport

XML = "application/xml"
POLICY_VIOLATION = 1008


def public_url(request: Request) -> str:
    """The URL the provider requested, as it knows Voxline."""
    url = f"{request.app.state.settings.base_url}{request.url.path}"
    return f"{url}?{request.url.query}" if request.url.query else url


async def apply_provider_events(connection: HTTPConnection, events: list[ProviderEvent]) -> None:
    """Apply events here (through the local engine when there is one, else waking the
    workers' finalizers)."""
    state = connection.app.state
    for event in events:
        if state.engine is not None:
            await state.engine.on_provider_event(event)
            continue
        status = await apply_event(state.db, event)
        if status is not None and status.is_terminal:
            await notify(state.db, FINALIZE)


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """An ``application/x-www-form-urlencoded`` body as (name, value) pairs, in order."""
    body = await request.body()
    try:
        return parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("Webhook body is not form-encoded text") from None


def voice_sessions(connection: HTTPConnection) -> VoiceSessions:
    """The process's voice sessions: the engine's when it runs here, else the app's own."""
    state = connection.app.state
    if state.engine is not None:
        sessions: VoiceSessions = state.engine.sessions
        return sessions
    if getattr(state, "voice_sessions", None) is None:
        state.voice_sessions = VoiceSessions(state.db, state.settings)
    existing: VoiceSessions = state.voice_sessions
    return existing


async def answered(connection: HTTPConnection, call_id: str, provider_call_id: str) -> None:
    """Media started: the call is connected (idempotent if a callback said so already)."""
    event = ProviderEvent(
        call_id=call_id,
        event=CallEvent.ANSWERED,
        at=datetime.now(UTC),
        provider_call_id=provider_call_id,
        answered_by=AnsweredBy.HUMAN,
    )
    await apply_provider_events(connection, [event])


async def hold_media_session(
    connection: HTTPConnection, call_id: str, transport: WebSocketTransport
) -> None:
    """Run the agent on the stream until either side hangs up."""
    try:
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(transport.pump())
            await voice_sessions(connection).run_audio(call_id, transport)
            pump.cancel()
    finally:
        await transport.finish()
