"""Media WebSockets: a provider streams a live call's audio here and the agent answers on it.

Any API node can take a stream: the session runs where the socket lands. A stream is only
accepted for an active call of that provider whose provider call id matches the stream's.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from fastapi import APIRouter, WebSocket

from voxline.api.webhooks import apply_provider_events
from voxline.domain.calls import AnsweredBy, CallEvent
from voxline.engine.sessions import VoiceSessions
from voxline.errors import NotFound, ProviderError
from voxline.logging import get_logger
from voxline.services.provider_calls import find_provider_call
from voxline.telephony.base import ProviderEvent
from voxline.telephony.credentials import TwilioCredentials
from voxline.telephony.twilio.client import TwilioClient
from voxline.telephony.twilio.media import TwilioMediaCodec
from voxline.telephony.websocket import WebSocketTransport
from voxline.voice.channel import LineClosed

router = APIRouter(include_in_schema=False)
log = get_logger("api.media")

POLICY_VIOLATION = 1008


def _sessions(socket: WebSocket) -> VoiceSessions:
    state = socket.app.state
    if state.engine is not None:
        sessions: VoiceSessions = state.engine.sessions
        return sessions
    if getattr(state, "voice_sessions", None) is None:
        state.voice_sessions = VoiceSessions(state.db, state.settings)
    existing: VoiceSessions = state.voice_sessions
    return existing


@router.websocket("/media/twilio")
async def twilio_media(socket: WebSocket) -> None:
    settings, db = socket.app.state.settings, socket.app.state.db
    await socket.accept()
    holder: dict[str, TwilioClient] = {}

    async def hang_up() -> None:
        client = holder.get("client")
        if client is not None and call.provider_call_id:
            try:
                await client.hangup(call.provider_call_id)
            except ProviderError as exc:
                log.warning("hang-up failed", extra={"call_id": call.call_id, "code": exc.code})

    transport = WebSocketTransport(socket, TwilioMediaCodec(), on_hangup=hang_up)
    try:
        start = await transport.wait_start()
        call = await find_provider_call(db, settings, "twilio", call_id=start.call_id)
    except (LineClosed, NotFound):
        await socket.close(code=POLICY_VIOLATION)
        return
    if call.status.is_terminal or (
        call.provider_call_id is not None and call.provider_call_id != start.provider_call_id
    ):
        await socket.close(code=POLICY_VIOLATION)
        return
    credentials = call.credentials
    assert isinstance(credentials, TwilioCredentials)
    holder["client"] = TwilioClient(
        public_base_url=settings.base_url,
        base_url=settings.twilio_api_base_url,
        credentials=credentials,
    )
    await apply_provider_events(
        socket,
        [
            ProviderEvent(
                call_id=call.call_id,
                event=CallEvent.ANSWERED,
                at=datetime.now(UTC),
                provider_call_id=start.provider_call_id,
                answered_by=AnsweredBy.HUMAN,
            )
        ],
    )
    try:
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(transport.pump())
            await _sessions(socket).run_audio(call.call_id, transport)
            pump.cancel()
    finally:
        await transport.finish()
        with contextlib.suppress(Exception):
            await holder["client"].aclose()
