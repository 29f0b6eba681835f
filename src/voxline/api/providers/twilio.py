"""Twilio's side of Voxline: status callbacks, the voice URL of inbound calls, and the
bidirectional media stream (``reference/telephony.md`` §1)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, WebSocket

from voxline.api.providers.common import (
    XML,
    apply_provider_events,
    form_pairs,
    public_url,
    serve_media_stream,
)
from voxline.errors import Forbidden, NotFound
from voxline.logging import get_logger
from voxline.services.provider_calls import (
    find_number,
    find_provider_call,
    receive_inbound,
)
from voxline.telephony.credentials import ProviderCredentials, TwilioCredentials
from voxline.telephony.twilio import webhooks as twilio
from voxline.telephony.twilio.client import TwilioClient
from voxline.telephony.twilio.media import TwilioMediaCodec

router = APIRouter(include_in_schema=False)
log = get_logger("api.providers.twilio")


async def _twilio_form(request: Request, auth_token: str) -> dict[str, str]:
    pairs = await form_pairs(request)
    signature = request.headers.get(twilio.SIGNATURE_HEADER)
    if not twilio.verify(auth_token, public_url(request), pairs, signature):
        raise Forbidden("Invalid webhook signature")
    return dict(pairs)


@router.post("/webhooks/twilio/events")
async def twilio_events(request: Request) -> Response:
    """Status and answering-machine callbacks of a Twilio call."""
    settings, db = request.app.state.settings, request.app.state.db
    form = dict(await form_pairs(request))
    call_id = request.query_params.get("call_id")
    call = await find_provider_call(
        db,
        settings,
        twilio.PROVIDER,
        call_id=call_id,
        provider_call_id=None if call_id else form.get("CallSid", ""),
    )
    if not isinstance(call.credentials, TwilioCredentials):
        raise NotFound.resource("Call")
    params = await _twilio_form(request, call.credentials.auth_token)
    await apply_provider_events(request, twilio.parse_status(call.call_id, params))
    return Response(status_code=204)


@router.post("/webhooks/twilio/answer")
async def twilio_answer(request: Request) -> Response:
    """Twilio's voice URL for inbound calls: answered by the number's inbound agent with a
    media stream, or turned away politely."""
    settings, db = request.app.state.settings, request.app.state.db
    form = dict(await form_pairs(request))
    number = await find_number(db, settings, twilio.PROVIDER, form.get("To", ""))
    if number is None or not isinstance(number.credentials, TwilioCredentials):
        raise NotFound.resource("Phone number")
    params = await _twilio_form(request, number.credentials.auth_token)
    inbound = twilio.parse_inbound(params)
    decision = await receive_inbound(
        db, number, caller=inbound.from_number, provider_call_id=inbound.provider_call_id
    )
    if not decision.answered:
        return Response(twilio.rejection_twiml(), media_type=XML)
    return Response(twilio.stream_twiml(settings.base_url, decision.call_id), media_type=XML)


@router.websocket("/media/twilio")
async def twilio_media(socket: WebSocket) -> None:
    """Twilio's media stream of a call (our call id is the stream's ``call_id`` parameter)."""
    settings = socket.app.state.settings

    def client_for(credentials: ProviderCredentials) -> TwilioClient | None:
        if not isinstance(credentials, TwilioCredentials):
            return None
        return TwilioClient(
            public_base_url=settings.base_url,
            base_url=settings.twilio_api_base_url,
            credentials=credentials,
        )

    await serve_media_stream(socket, twilio.PROVIDER, TwilioMediaCodec(), client_for)
