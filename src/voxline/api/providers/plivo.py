"""Plivo's side of Voxline: event callbacks, the answer URL (outbound and inbound calls) and
the bidirectional audio stream (``reference/telephony.md`` §3).

Every callback is checked with signature V3 over the public URL Plivo called; a missing or
wrong signature answers 403 and changes nothing. The answer URL returns Plivo XML whose
``<Stream>`` connects the call to ``/media/plivo``, carrying our call id in the URL and in
``extraHeaders``. Outbound callbacks carry ``call_id`` in their (signed) query string;
inbound ones (URLs configured on the Plivo application) are found by the number dialed or
the CallUUID, and only in the organization whose account signed them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response, WebSocket

from voxline.api.deps import runtime_of
from voxline.api.providers.common import (
    XML,
    apply_once,
    form_pairs,
    public_url,
    refused,
    serve_media_stream,
    signed_call,
)
from voxline.errors import BadRequest
from voxline.logging import get_logger
from voxline.services.provider_calls import KnownCall, find_number, receive_inbound
from voxline.services.webhook_receipts import event_key
from voxline.telephony.credentials import PlivoCredentials, ProviderCredentials
from voxline.telephony.plivo import webhooks as plivo
from voxline.telephony.plivo.media import PlivoMediaCodec

router = APIRouter(include_in_schema=False)
log = get_logger("api.providers.plivo")

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
# The same scheme keyed with the main account's token (calls placed under a subaccount).
MAIN_ACCOUNT_SIGNATURE_HEADER = "X-Plivo-Signature-Ma-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"


def _params(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def _first(pairs: list[tuple[str, str]], key: str) -> str:
    return next((value for name, value in pairs if name == key), "")


def _verifier(
    request: Request, pairs: list[tuple[str, str]]
) -> Callable[[ProviderCredentials], bool]:
    """Whether a Plivo account's auth token signed this request (V3, over the URL with its
    query, the form fields and the nonce)."""
    url = public_url(request)
    nonce = request.headers.get(NONCE_HEADER, "")
    signatures = ",".join(
        header
        for header in (
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(MAIN_ACCOUNT_SIGNATURE_HEADER),
        )
        if header
    )
    params = _params(pairs)

    def verifies(credentials: ProviderCredentials) -> bool:
        return isinstance(credentials, PlivoCredentials) and plivo.verify(
            auth_token=credentials.auth_token,
            method=request.method,
            url=url,
            nonce=nonce,
            signatures=signatures,
            params=params,
        )

    return verifies


async def _apply_callback(request: Request) -> KnownCall:
    """Apply the events of a signed callback, once; the call it speaks of is our id from
    the signed URL, else Plivo's CallUUID among the calls whose account signed it."""
    pairs = await form_pairs(request)
    call = await signed_call(
        request,
        plivo.PROVIDER,
        _verifier(request, pairs),
        call_id=request.query_params.get("call_id"),
        provider_call_id=_first(pairs, "CallUUID") or None,
    )
    events = plivo.parse_event(_params(pairs), call_id=call.call_id, received_at=datetime.now(UTC))
    # The nonce, URL and fields are all signed: a replay repeats them exactly.
    nonce = request.headers.get(NONCE_HEADER, "")
    key = event_key(call.call_id, nonce, request.url.path, request.url.query, pairs)
    await apply_once(request, plivo.PROVIDER, key, events)
    return call


@router.post("/webhooks/plivo/events")
async def plivo_events(request: Request) -> Response:
    """Ring, machine-detection and hangup callbacks of a Plivo call."""
    await _apply_callback(request)
    return Response(status_code=204)


@router.post("/webhooks/plivo/answer")
async def plivo_answer(request: Request) -> Response:
    """Plivo XML for an answered call: the agent's media stream. An outbound call (our id in
    the URL) is marked answered; an inbound one is recorded for the number's inbound agent,
    or turned away politely when no agent takes it. Only the account of the number dialed
    may sign an inbound one, and only that organization's calls are looked at for a retry."""
    runtime = runtime_of(request)
    settings, db = runtime.settings, runtime.db
    if request.query_params.get("call_id"):
        call = await _apply_callback(request)
        return _stream_response(request, call.call_id)
    pairs = await form_pairs(request)
    dialed = plivo.to_e164(_first(pairs, "To"))
    number = await find_number(db, settings, plivo.PROVIDER, dialed)
    if number is None or not _verifier(request, pairs)(number.credentials):
        raise refused()
    inbound = plivo.parse_inbound(_params(pairs))
    if inbound is None:
        raise BadRequest("An answer request without call_id must be an inbound call")
    decision = await receive_inbound(
        db, number, caller=inbound.from_number, provider_call_id=inbound.provider_call_id
    )
    if not decision.answered:
        return Response(plivo.rejection_xml(), media_type=XML)
    return _stream_response(request, decision.call_id)


def _stream_response(request: Request, call_id: str) -> Response:
    """The answer document streaming the call to ``/media/plivo`` with its media token."""
    runtime = runtime_of(request)
    token = runtime.media_tokens.issue(plivo.PROVIDER, call_id, time.time())
    stream_url = plivo.media_url(runtime.settings.base_url, call_id, token)
    return Response(plivo.answer_xml(stream_url, call_id=call_id), media_type=XML)


@router.websocket("/media/plivo")
async def plivo_media(socket: WebSocket) -> None:
    """The audio stream of a call: accepted only with the call's media token (``?token=``)
    and for an active Plivo call whose CallUUID is the stream's; our call id comes from
    ``extraHeaders`` and the URL, which must agree."""
    await serve_media_stream(
        socket,
        plivo.PROVIDER,
        PlivoMediaCodec(),
        url_call_id=socket.query_params.get("call_id"),
        upgrade_token=socket.query_params.get(plivo.MEDIA_TOKEN_PARAMETER),
    )
