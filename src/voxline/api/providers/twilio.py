"""Twilio's side of Voxline: status callbacks, the voice URL of inbound calls, and the
bidirectional media stream (``reference/telephony.md`` §1)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from fastapi import APIRouter, Request, Response, WebSocket

from voxline.api.deps import runtime_of
from voxline.api.providers.common import (
    XML,
    apply_once,
    bounded_json,
    form_pairs,
    public_url,
    refused,
    serve_media_stream,
    signed_call,
    webhook_body,
)
from voxline.errors import BadRequest
from voxline.logging import get_logger
from voxline.services.provider_calls import find_number, receive_inbound
from voxline.services.webhook_receipts import event_key
from voxline.telephony.credentials import ProviderCredentials, TwilioCredentials
from voxline.telephony.twilio import webhooks as twilio
from voxline.telephony.twilio.media import TwilioMediaCodec

router = APIRouter(include_in_schema=False)
log = get_logger("api.providers.twilio")


async def _fields(request: Request) -> tuple[list[tuple[str, str]], bytes | None]:
    """The webhook's fields as (name, value) pairs, and its raw body when it is JSON.

    Twilio posts most webhooks form-encoded and signs every field; a JSON one is signed
    through the ``bodySHA256`` of its raw body instead (see ``twilio.verify``).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return await form_pairs(request), None
    body = await webhook_body(request)
    data = bounded_json(body, runtime_of(request).settings.webhook_max_json_depth)
    if not isinstance(data, dict):
        raise BadRequest("Webhook body is not a JSON object")
    pairs = [
        (str(name), value if isinstance(value, str) else json.dumps(value))
        for name, value in data.items()
    ]
    return pairs, body


def _verifier(
    request: Request, pairs: list[tuple[str, str]], raw_json: bytes | None = None
) -> Callable[[ProviderCredentials], bool]:
    """Whether a Twilio account's auth token signed this request (its URL, query included,
    and every form field, or the JSON body through its ``bodySHA256``)."""
    url, signature = public_url(request), request.headers.get(twilio.SIGNATURE_HEADER)
    signed: list[tuple[str, str]] | bytes = pairs if raw_json is None else raw_json

    def verifies(credentials: ProviderCredentials) -> bool:
        return isinstance(credentials, TwilioCredentials) and twilio.verify(
            credentials.auth_token, url, signed, signature
        )

    return verifies


@router.post("/webhooks/twilio/events")
async def twilio_events(request: Request) -> Response:
    """Status and answering-machine callbacks of a Twilio call: our id comes from the
    signed URL, else the call is found by its CallSid among the calls whose account signed
    the callback."""
    pairs, raw_json = await _fields(request)
    params = dict(pairs)
    call = await signed_call(
        request,
        twilio.PROVIDER,
        _verifier(request, pairs, raw_json),
        call_id=request.query_params.get("call_id"),
        provider_call_id=params.get("CallSid") or None,
    )
    # Twilio signs the URL and every field: identical content is the same callback again.
    key = event_key(call.call_id, request.url.path, request.url.query, pairs)
    await apply_once(request, twilio.PROVIDER, key, twilio.parse_status(call.call_id, params))
    return Response(status_code=204)


@router.post("/webhooks/twilio/answer")
async def twilio_answer(request: Request) -> Response:
    """Twilio's voice URL for inbound calls: answered by the number's inbound agent with a
    media stream, or turned away politely. Only the account of the number dialed may sign
    it, and only that organization's calls are looked at for a retry."""
    runtime = runtime_of(request)
    settings, db = runtime.settings, runtime.db
    pairs, raw_json = await _fields(request)
    params = dict(pairs)
    number = await find_number(db, settings, twilio.PROVIDER, params.get("To", ""))
    if number is None or not _verifier(request, pairs, raw_json)(number.credentials):
        raise refused()
    inbound = twilio.parse_inbound(params)
    decision = await receive_inbound(
        db, number, caller=inbound.from_number, provider_call_id=inbound.provider_call_id
    )
    if not decision.answered:
        return Response(twilio.rejection_twiml(), media_type=XML)
    token = runtime.media_tokens.issue(twilio.PROVIDER, decision.call_id, time.time())
    twiml = twilio.stream_twiml(settings.base_url, decision.call_id, token)
    return Response(twiml, media_type=XML)


def _upgrade_verifier(socket: WebSocket) -> Callable[[ProviderCredentials], bool]:
    """Whether the media upgrade's ``X-Twilio-Signature`` (over the ``wss://`` URL, no
    parameters) is the call's account's. Twilio signs every upgrade, so a wrong signature
    is refused; an absent one is accepted, the stream then resting on its media token
    alone (a proxy may drop the header, and a test peer need not compute it)."""
    signature = socket.headers.get(twilio.SIGNATURE_HEADER)
    url = twilio.media_url(runtime_of(socket).settings.base_url)

    def verifies(credentials: ProviderCredentials) -> bool:
        if signature is None:
            return True
        return isinstance(credentials, TwilioCredentials) and twilio.verify(
            credentials.auth_token, url, [], signature
        )

    return verifies


@router.websocket("/media/twilio")
async def twilio_media(socket: WebSocket) -> None:
    """Twilio's media stream of a call (our call id and its media token are the stream's
    ``call_id`` and ``token`` parameters, echoed in its start message)."""
    await serve_media_stream(
        socket,
        twilio.PROVIDER,
        TwilioMediaCodec(),
        upgrade_signed=_upgrade_verifier(socket),
    )
