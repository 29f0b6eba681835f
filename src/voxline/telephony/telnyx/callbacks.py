"""Telnyx's side of Voxline: event callbacks, inbound calls and the media stream
(``reference/telephony.md`` §2).

Telnyx posts every call event as signed JSON to one URL. Events of a call Voxline knows
(outbound, or inbound once answered) carry our ``client_state`` (and, unsigned and unused
here, ``?call_id=`` in the URL); an inbound ``call.initiated`` arrives on the application's
URL with neither. Unlike Twilio, Telnyx takes no instructions from the webhook's reply: an
inbound call is answered (with a media stream) or rejected by a REST command sent from here.

A webhook is only trusted when it verifies against the ``public_key`` of the Telnyx
credential of the number involved; a number imported without one cannot verify, so its
webhooks are refused (403) and change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxline.errors import BadRequest, NotFound
from voxline.telephony.base import ProviderCall
from voxline.telephony.callbacks import (
    CallbackHost,
    MediaAdmission,
    Verifier,
    WebhookReply,
    WebhookRequest,
    bounded_json,
    refused,
)
from voxline.telephony.credentials import ProviderCredentials, TelnyxCredentials
from voxline.telephony.telnyx import webhooks as telnyx
from voxline.telephony.telnyx.client import TelnyxClient
from voxline.telephony.telnyx.media import TelnyxMediaCodec
from voxline.telephony.telnyx.webhooks import InboundCall


def _verifier(request: WebhookRequest) -> Verifier:
    """Whether a Telnyx account's public key signed the body (freshly, with its timestamp)."""
    signature = request.headers.get(telnyx.SIGNATURE_HEADER)
    timestamp = request.headers.get(telnyx.TIMESTAMP_HEADER)

    def verifies(credentials: ProviderCredentials) -> bool:
        return (
            isinstance(credentials, TelnyxCredentials)
            and credentials.public_key is not None
            and telnyx.verify(request.body, signature, timestamp, credentials.public_key)
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


class TelnyxCallbacks:
    """:class:`~voxline.telephony.callbacks.ProviderCallbacks` for Telnyx; inbound calls
    are answered or rejected through ``client``."""

    name = telnyx.PROVIDER

    def __init__(self, client: TelnyxClient) -> None:
        self._client = client

    async def handle(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        """Every call event Telnyx sends: status changes of our calls, and new inbound calls.

        An event is matched to a call only by what Telnyx signed: our id in ``client_state``
        (with its ``call_control_id``, once known, agreeing), else the ``call_control_id``
        alone, among the calls whose credential's public key verifies the signature. The
        ``call_id`` in the URL is not signed and is not used."""
        if request.kind != "events":
            raise NotFound.resource("Webhook")
        document = bounded_json(request.body, request.max_json_depth)
        payload = _payload(document)
        event_id = document["data"].get("id")
        signed_id = event_id if isinstance(event_id, str) and event_id else request.body.hex()
        try:
            inbound = telnyx.parse_inbound(document)
        except ValueError:
            raise BadRequest("Inbound call event lacks call_control_id, from or to") from None
        if inbound is not None:
            await self._receive(request, host, inbound, signed_id)
            return WebhookReply()
        control_id = payload.get("call_control_id")
        call = await host.signed_call(
            _verifier(request),
            call_id=telnyx.decode_client_state(payload.get("client_state")),
            provider_call_id=control_id if isinstance(control_id, str) and control_id else None,
        )
        direction = await host.direction(call)
        event = telnyx.parse_event(document, call_id=call.call_id, direction=direction)
        await host.apply_once((call.call_id, signed_id), [event] if event is not None else [])
        return WebhookReply()

    async def _receive(
        self, request: WebhookRequest, host: CallbackHost, inbound: InboundCall, event_id: str
    ) -> None:
        """An inbound call: answered with a media stream for the number's inbound agent, or
        rejected. A failed command surfaces as 502, so Telnyx retries the webhook, and the
        retry finds the call already recorded. Only the account of the number dialed may
        sign it, and only that organization's calls are looked at for a retry. A replay of
        an event already handled (``event_id``, for this number) sends no command again."""
        number = await host.number(inbound.to_number)
        if number is None or not _verifier(request)(number.credentials):
            raise refused()

        async def answer() -> None:
            decision = await host.receive(
                number, caller=inbound.from_number, provider_call_id=inbound.provider_call_id
            )
            call = ProviderCall(decision.call_id, inbound.provider_call_id, number.credentials)
            if decision.answered:
                await self._client.answer(call)
            else:
                await self._client.reject(call)

        await host.run_once((number.number_id, event_id), answer)

    def admit_media(
        self, query: Mapping[str, str], headers: Mapping[str, str], public_base_url: str
    ) -> MediaAdmission:
        """Telnyx's stream: our call id is in the stream URL, and the media token is the
        ``stream_auth_token`` Telnyx presents as an upgrade header."""
        return MediaAdmission(
            TelnyxMediaCodec(),
            url_call_id=query.get("call_id"),
            upgrade_token=headers.get(telnyx.STREAM_TOKEN_HEADER),
        )
