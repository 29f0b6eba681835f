"""Twilio's side of Voxline: status callbacks, the voice URL of inbound calls, and the
bidirectional media stream (``reference/telephony.md`` §1).

Twilio signs the URL it requested and every form field (a JSON webhook through the
``bodySHA256`` of its raw body instead); a callback is only applied for a call whose
account's auth token verifies it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from voxline.errors import BadRequest, NotFound
from voxline.telephony.callbacks import (
    CallbackHost,
    MediaAdmission,
    Verifier,
    WebhookReply,
    WebhookRequest,
    bounded_json,
    form_pairs,
    refused,
)
from voxline.telephony.credentials import ProviderCredentials, TwilioCredentials
from voxline.telephony.twilio import webhooks as twilio
from voxline.telephony.twilio.media import TwilioMediaCodec


def _fields(request: WebhookRequest) -> tuple[list[tuple[str, str]], bytes | None]:
    """The webhook's fields as (name, value) pairs, and its raw body when it is JSON.

    Twilio posts most webhooks form-encoded and signs every field; a JSON one is signed
    through the ``bodySHA256`` of its raw body instead (see ``twilio.verify``).
    """
    if request.content_type != "application/json":
        return form_pairs(request.body), None
    data = bounded_json(request.body, request.max_json_depth)
    if not isinstance(data, dict):
        raise BadRequest("Webhook body is not a JSON object")
    pairs = [
        (str(name), value if isinstance(value, str) else json.dumps(value))
        for name, value in data.items()
    ]
    return pairs, request.body


def _verifier(
    request: WebhookRequest, pairs: list[tuple[str, str]], raw_json: bytes | None
) -> Verifier:
    """Whether a Twilio account's auth token signed this request (its URL, query included,
    and every form field, or the JSON body through its ``bodySHA256``)."""
    signature = request.headers.get(twilio.SIGNATURE_HEADER.lower())
    signed: list[tuple[str, str]] | bytes = pairs if raw_json is None else raw_json

    def verifies(credentials: ProviderCredentials) -> bool:
        return isinstance(credentials, TwilioCredentials) and twilio.verify(
            credentials.auth_token, request.url, signed, signature
        )

    return verifies


class TwilioCallbacks:
    """:class:`~voxline.telephony.callbacks.ProviderCallbacks` for Twilio."""

    name = twilio.PROVIDER

    async def handle(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        if request.kind == "events":
            return await self._events(request, host)
        if request.kind == "answer":
            return await self._answer(request, host)
        raise NotFound.resource("Webhook")

    async def _events(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        """Status and answering-machine callbacks of a Twilio call: our id comes from the
        signed URL, else the call is found by its CallSid among the calls whose account
        signed the callback."""
        pairs, raw_json = _fields(request)
        params = dict(pairs)
        call = await host.signed_call(
            _verifier(request, pairs, raw_json),
            call_id=request.query.get("call_id"),
            provider_call_id=params.get("CallSid") or None,
        )
        # Twilio signs the URL and every field: identical content is the same callback again.
        key = (call.call_id, request.url, pairs)
        await host.apply_once(key, twilio.parse_status(call.call_id, params))
        return WebhookReply()

    async def _answer(self, request: WebhookRequest, host: CallbackHost) -> WebhookReply:
        """Twilio's voice URL for inbound calls: answered by the number's inbound agent with
        a media stream, or turned away politely. Only the account of the number dialed may
        sign it, and only that organization's calls are looked at for a retry."""
        pairs, raw_json = _fields(request)
        params = dict(pairs)
        number = await host.number(params.get("To", ""))
        if number is None or not _verifier(request, pairs, raw_json)(number.credentials):
            raise refused()
        inbound = twilio.parse_inbound(params)
        answer = await host.receive(
            number, caller=inbound.from_number, provider_call_id=inbound.provider_call_id
        )
        if not answer.answered:
            return WebhookReply.document(twilio.rejection_twiml())
        token = host.media_token(answer.call_id)
        return WebhookReply.document(
            twilio.stream_twiml(host.public_base_url, answer.call_id, token)
        )

    def admit_media(
        self, query: Mapping[str, str], headers: Mapping[str, str], public_base_url: str
    ) -> MediaAdmission:
        """Twilio's stream carries our call id and its media token as the stream's
        ``call_id`` and ``token`` parameters, echoed in its start message. Twilio signs the
        upgrade (``X-Twilio-Signature`` over the ``wss://`` URL, no parameters), so a wrong
        signature is refused; an absent one is accepted, the stream then resting on its
        media token alone (a proxy may drop the header, and a test peer need not sign)."""
        signature = headers.get(twilio.SIGNATURE_HEADER.lower())
        url = twilio.media_url(public_base_url)

        def signed(credentials: ProviderCredentials) -> bool:
            if signature is None:
                return True
            return isinstance(credentials, TwilioCredentials) and twilio.verify(
                credentials.auth_token, url, [], signature
            )

        return MediaAdmission(TwilioMediaCodec(), upgrade_signed=signed)
