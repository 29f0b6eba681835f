"""Telnyx's side of Voxline: event callbacks, inbound calls and the media stream
(``reference/telephony.md`` §2).

Telnyx posts every call event as signed JSON to one URL. Events of a call Voxline knows
(outbound, or inbound once answered) carry our ``client_state`` (and, unsigned and unused
here, ``?call_id=`` in the URL); an
inbound ``call.initiated`` arrives on the application's URL with neither. Unlike Twilio,
Telnyx takes no instructions from the webhook's reply: an inbound call is answered (with
a media stream) or rejected by a REST command sent from here.

A webhook is only trusted when it verifies against the ``public_key`` of the Telnyx
credential of the number involved; a number imported without one cannot verify, so its
webhooks are refused (403) and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket

from voxline.api.deps import runtime_of
from voxline.api.providers.common import (
    apply_once,
    bounded_json,
    refused,
    serve_media_stream,
    signed_call,
    webhook_body,
)
from voxline.errors import BadRequest
from voxline.logging import get_logger
from voxline.services import webhook_receipts
from voxline.services.call_queries import get_call
from voxline.services.provider_calls import find_number, receive_inbound
from voxline.services.webhook_receipts import event_key
from voxline.telephony.base import ProviderCall
from voxline.telephony.credentials import ProviderCredentials, TelnyxCredentials
from voxline.telephony.telnyx import webhooks as telnyx
from voxline.telephony.telnyx.media import TelnyxMediaCodec
from voxline.telephony.telnyx.webhooks import InboundCall

router = APIRouter(include_in_schema=False)
log = get_logger("api.providers.telnyx")


def _verifier(request: Request, body: bytes) -> Callable[[ProviderCredentials], bool]:
    """Whether a Telnyx account's public key signed ``body`` (freshly, with its timestamp)."""
    signature = request.headers.get(telnyx.SIGNATURE_HEADER)
    timestamp = request.headers.get(telnyx.TIMESTAMP_HEADER)

    def verifies(credentials: ProviderCredentials) -> bool:
        return (
            isinstance(credentials, TelnyxCredentials)
            and credentials.public_key is not None
            and telnyx.verify(body, signature, timestamp, credentials.public_key)
        )

    return verifies


def _payload(document: Any) -> dict[str, Any]:
    """The ``data.payload`` of a webhook; 400 when the body is not a Telnyx webhook."""
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("event_type"), str):
        raise BadRequest("Webhook body is not a Telnyx call event")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise BadRequest("Webhook body is not a Telnyx call event")
    return payload


@router.post("/webhooks/telnyx/events")
async def telnyx_events(request: Request) -> Response:
    """Every call event Telnyx sends: status changes of our calls, and new inbound calls.

    An event is matched to a call only by what Telnyx signed: our id in ``client_state``
    (with its ``call_control_id``, once known, agreeing), else the ``call_control_id``
    alone, among the calls whose credential's public key verifies the signature. The
    ``call_id`` in the URL is not signed and is not used."""
    runtime = runtime_of(request)
    settings, db = runtime.settings, runtime.db
    body = await webhook_body(request)
    document = bounded_json(body, settings.webhook_max_json_depth)
    payload = _payload(document)
    event_id = document["data"].get("id")
    signed_id = event_id if isinstance(event_id, str) and event_id else body.hex()
    try:
        inbound = telnyx.parse_inbound(document)
    except ValueError:
        raise BadRequest("Inbound call event lacks call_control_id, from or to") from None
    if inbound is not None:
        await _receive(request, body, inbound, signed_id)
        return Response(status_code=204)
    control_id = payload.get("call_control_id")
    call = await signed_call(
        request,
        telnyx.PROVIDER,
        _verifier(request, body),
        call_id=telnyx.decode_client_state(payload.get("client_state")),
        provider_call_id=control_id if isinstance(control_id, str) and control_id else None,
    )
    direction = (await get_call(db, settings, call.org_id, call.call_id)).direction
    event = telnyx.parse_event(document, call_id=call.call_id, direction=direction)
    key = event_key(call.call_id, signed_id)
    await apply_once(request, telnyx.PROVIDER, key, [event] if event is not None else [])
    return Response(status_code=204)


async def _receive(request: Request, body: bytes, inbound: InboundCall, event_id: str) -> None:
    """An inbound call: answered with a media stream for the number's inbound agent, or
    rejected. A failed command surfaces as 502, so Telnyx retries the webhook, and the
    retry finds the call already recorded. Only the account of the number dialed may sign
    it, and only that organization's calls are looked at for a retry. A replay of an event
    already handled (``event_id``, for this number) sends no command again."""
    runtime = runtime_of(request)
    settings, db = runtime.settings, runtime.db
    number = await find_number(db, settings, telnyx.PROVIDER, inbound.to_number)
    if number is None or not _verifier(request, body)(number.credentials):
        raise refused()
    retention = timedelta(hours=settings.webhook_receipt_retention_hours)
    key = event_key(number.number_id, event_id)
    if not await webhook_receipts.claim(db, telnyx.PROVIDER, key, retention=retention):
        log.info("webhook replay ignored", extra={"provider": telnyx.PROVIDER})
        return
    try:
        decision = await receive_inbound(
            db, number, caller=inbound.from_number, provider_call_id=inbound.provider_call_id
        )
        call = ProviderCall(decision.call_id, inbound.provider_call_id, number.credentials)
        if not decision.answered:
            await runtime.carriers.telnyx.reject(call)
        else:
            await runtime.carriers.telnyx.answer(call)
    except BaseException:
        await webhook_receipts.release(db, telnyx.PROVIDER, key)
        raise


@router.websocket("/media/telnyx")
async def telnyx_media(socket: WebSocket) -> None:
    """Telnyx's media stream of a call: accepted only with the call's media token (the
    ``stream_auth_token`` Telnyx presents as an upgrade header) and for an active Telnyx
    call whose ``call_control_id`` matches the stream's, then held by the voice session."""

    await serve_media_stream(
        socket,
        telnyx.PROVIDER,
        TelnyxMediaCodec(),
        url_call_id=socket.query_params.get("call_id"),
        upgrade_token=socket.headers.get(telnyx.STREAM_TOKEN_HEADER),
    )
