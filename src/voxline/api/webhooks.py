"""Provider webhooks: status callbacks and inbound calls, verified by signature.

A request whose signature does not verify answers 403 and changes nothing. URLs are checked
as the provider requested them, i.e. under ``VOXLINE_PUBLIC_BASE_URL``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.requests import HTTPConnection

from voxline.engine.wakeup import FINALIZE, notify
from voxline.errors import BadRequest, Forbidden, NotFound
from voxline.services.call_events import apply_event
from voxline.services.provider_calls import find_number, find_provider_call, receive_inbound
from voxline.telephony.base import ProviderEvent
from voxline.telephony.credentials import TwilioCredentials
from voxline.telephony.twilio import webhooks as twilio

router = APIRouter(include_in_schema=False)

TWIML = "application/xml"


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
    if decision.call_id is None:
        return Response(twilio.rejection_twiml(), media_type=TWIML)
    return Response(twilio.stream_twiml(settings.base_url, decision.call_id), media_type=TWIML)
