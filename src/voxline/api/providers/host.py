"""What a provider's callbacks ask of Voxline, answered for one request.

A call is only ever found through the credential that verified the webhook's signature:
provider call ids are not secret, and two organizations may both have a call claiming one.
An unsigned or wrongly signed webhook answers 403 with the same body whether or not the call
or number it names exists. A webhook applied once is recognised when it comes again (a
webhook receipt), and changes nothing the second time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from voxline.domain.calls import CallDirection
from voxline.logging import get_logger
from voxline.runtime import Runtime
from voxline.services import webhook_receipts
from voxline.services.call_queries import get_call
from voxline.services.credentials import NumberCredential
from voxline.services.provider_calls import find_number, find_provider_calls, receive_inbound
from voxline.telephony.base import ProviderEvent
from voxline.telephony.callbacks import (
    InboundAnswer,
    InboundNumber,
    KeyPart,
    SignedCall,
    Verifier,
    event_key,
    refused,
)

log = get_logger("api.providers")


class CallbackHost:
    """:class:`~voxline.telephony.callbacks.CallbackHost` of one provider, over the
    runtime's database, media tokens and provider-event handler."""

    def __init__(self, runtime: Runtime, provider: str) -> None:
        self._runtime = runtime
        self._provider = provider
        self._numbers: dict[str, NumberCredential] = {}

    @property
    def public_base_url(self) -> str:
        return self._runtime.settings.base_url

    async def signed_call(
        self, verifies: Verifier, *, call_id: str | None, provider_call_id: str | None
    ) -> SignedCall:
        candidates = await find_provider_calls(
            self._runtime.db,
            self._runtime.settings,
            self._provider,
            call_id=call_id,
            provider_call_id=provider_call_id,
        )
        for call in candidates:
            if verifies(call.credentials):
                return SignedCall(
                    call.call_id, call.org_id, call.status, call.provider_call_id, call.credentials
                )
        raise refused()

    async def number(self, phone_number: str) -> InboundNumber | None:
        found = await find_number(
            self._runtime.db, self._runtime.settings, self._provider, phone_number
        )
        if found is None:
            return None
        self._numbers[found.number_id] = found
        return InboundNumber(found.number_id, found.phone_number, found.credentials)

    async def receive(
        self, number: InboundNumber, *, caller: str, provider_call_id: str
    ) -> InboundAnswer:
        # Before anything is recorded: the carrier retries, or asks its fallback URL.
        self._runtime.refuse_if_draining()
        decision = await receive_inbound(
            self._runtime.db,
            self._numbers[number.number_id],
            caller=caller,
            provider_call_id=provider_call_id,
        )
        return InboundAnswer(decision.call_id, decision.answered)

    async def direction(self, call: SignedCall) -> CallDirection:
        found = await get_call(self._runtime.db, self._runtime.settings, call.org_id, call.call_id)
        return CallDirection(found.direction)

    async def apply_once(self, key: Sequence[KeyPart], events: list[ProviderEvent]) -> bool:
        async def apply() -> None:
            await self._runtime.on_provider_events(events)

        return await self.run_once(key, apply)

    async def run_once(self, key: Sequence[KeyPart], action: Callable[[], Awaitable[None]]) -> bool:
        db, settings = self._runtime.db, self._runtime.settings
        retention = timedelta(hours=settings.webhook_receipt_retention_hours)
        receipt = event_key(*key)
        if not await webhook_receipts.claim(db, self._provider, receipt, retention=retention):
            log.info("webhook replay ignored", extra={"provider": self._provider})
            return False
        try:
            await action()
        except BaseException:
            await webhook_receipts.release(db, self._provider, receipt)
            raise
        return True

    def media_token(self, call_id: str) -> str:
        return self._runtime.media_tokens.issue(self._provider, call_id, time.time())
