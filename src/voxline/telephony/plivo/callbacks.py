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

from collections.abc import Mapping
from datetime import UTC, datetime

from voxline.domain.phone import is_transfer_destination
from voxline.errors import BadRequest, NotFound
from voxline.telephony.callbacks import (
    CallbackHost,
    MediaAdmission,
    SignedCall,
    Verifier,
    WebhookReply,
    WebhookRequest,
    form_pairs,
    refused,
)
from voxline.telephony.credentials import PlivoCredentials, ProviderCredentials
from voxline.telephony.plivo import webhooks as plivo
from voxline.telephony.plivo.media import PlivoMediaCodec

SIGNATURE_HEADER = "x-plivo-signature-v3"
# The same scheme keyed with the main account's token (calls placed under a subaccount).
MAIN_ACCOUNT_SIGNATURE_HEADER = "x-plivo-signature-ma-v3"
NONCE_HEADER = "x-plivo-signature-v3-nonce"


def _params(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def _first(pairs: list[tuple[str, str]], key: str) -> str:
    return next((value for name, value in pairs if name == key), "")


def _verifier(request: WebhookRequest, pairs: list[tuple[str, str]]) -> Verifier:
    """Whether a Plivo account's auth token signed this request (V3, over the URL with its
    query, the form fields and the nonce)."""
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
            url=request.url,
            nonce=nonce,
            signatures=signatures,
            params=params,
        )

    return verifies


class PlivoCallbacks:
    """:class:`~voxline.telephony.callbacks.ProviderCallbacks` for Plivo."""

    name = plivo.PROVIDER

    async def handle(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        if request.kind == "events":
            await self._apply_callback(request, host)
            return WebhookReply()
        if request.kind == "answer":
            return await self._answer(request, host)
        if request.kind == "transfer":
            return await self._transfer(request, host)
        raise NotFound.resource("Webhook")

    async def _transfer(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        """The XML a transferred call's leg runs: dial the destination Voxline named in the
        (signed) URL it gave Plivo, for the call whose account signed the request."""
        pairs = form_pairs(request.body)
        await host.signed_call(
            _verifier(request, pairs),
            call_id=request.query.get("call_id"),
            provider_call_id=_first(pairs, "CallUUID") or None,
        )
        destination = request.query.get("to", "")
        if not is_transfer_destination(destination):
            raise BadRequest("The transfer destination is not an E.164 number or a SIP URI")
        return WebhookReply.document(plivo.dial_xml(destination))

    async def _apply_callback(self, request: WebhookRequest, host: CallbackHost) -> SignedCall:
        """Apply the events of a signed callback (ring, machine detection, hangup, answer),
        once; the call it speaks of is our id from the signed URL, else Plivo's CallUUID
        among the calls whose account signed it."""
        pairs = form_pairs(request.body)
        call = await host.signed_call(
            _verifier(request, pairs),
            call_id=request.query.get("call_id"),
            provider_call_id=_first(pairs, "CallUUID") or None,
        )
        events = plivo.parse_event(
            _params(pairs), call_id=call.call_id, received_at=datetime.now(UTC)
        )
        # The nonce, URL and fields are all signed: a replay repeats them exactly.
        nonce = request.headers.get(NONCE_HEADER, "")
        await host.apply_once((call.call_id, nonce, request.url, pairs), events)
        return call

    async def _answer(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        """Plivo XML for an answered call: the agent's media stream. An outbound call (our
        id in the URL) is marked answered; an inbound one is recorded for the number's
        inbound agent, or turned away politely when no agent takes it. Only the account of
        the number dialed may sign an inbound one, and only that organization's calls are
        looked at for a retry."""
        if request.query.get("call_id"):
            call = await self._apply_callback(request, host)
            return self._stream(host, call.call_id)
        pairs = form_pairs(request.body)
        number = await host.number(plivo.to_e164(_first(pairs, "To")))
        if number is None or not _verifier(request, pairs)(number.credentials):
            raise refused()
        inbound = plivo.parse_inbound(_params(pairs))
        if inbound is None:
            raise BadRequest("An answer request without call_id must be an inbound call")
        answer = await host.receive(
            number, caller=inbound.from_number, provider_call_id=inbound.provider_call_id
        )
        if not answer.answered:
            return WebhookReply.document(plivo.rejection_xml())
        return self._stream(host, answer.call_id)

    @staticmethod
    def _stream(host: CallbackHost, call_id: str) -> WebhookReply:
        """The answer document streaming the call to ``/media/plivo`` with its media token."""
        stream_url = plivo.media_url(host.public_base_url, call_id, host.media_token(call_id))
        return WebhookReply.document(plivo.answer_xml(stream_url, call_id=call_id))

    def admit_media(
        self, query: Mapping[str, str], headers: Mapping[str, str], public_base_url: str
    ) -> MediaAdmission:
        """Plivo's stream: the media token is in the URL (``?token=``); our call id comes
        from ``extraHeaders`` and the URL, which must agree."""
        return MediaAdmission(
            PlivoMediaCodec(),
            url_call_id=query.get("call_id"),
            upgrade_token=query.get(plivo.MEDIA_TOKEN_PARAMETER),
        )
