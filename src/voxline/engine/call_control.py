"""What an agent does to its own call through the call's carrier: transfer it, press keys,
and end it as a voicemail once its message is left.

:class:`CarrierCallControl` is the :class:`~voxline.voice.tools.CallControl` of one live
call, usable from whichever process hosts the call's session: the carrier and the
credentials of the call's own number are looked up per operation
(:func:`voxline.services.provider_calls.provider_call_of`). A successful transfer ends the
call ``completed`` with ``end_reason=transferred`` and ``context.transfer {to, at,
status}``: the caller stays on the line with the destination, and the call's later
events from the carrier are ignored (its status is final).
"""

from __future__ import annotations

import sqlalchemy as sa

from voxline.config import Settings
from voxline.domain.calls import AnsweredBy, CallEvent
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.services.call_events import apply_event
from voxline.services.provider_calls import provider_call_of
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderCall, ProviderEvent, TelephonyProvider
from voxline.telephony.registry import ProviderRegistry
from voxline.voice.tools import ToolFailed

log = get_logger("engine.call_control")


class CarrierCallControl:
    def __init__(
        self, db: Database, settings: Settings, providers: ProviderRegistry, call_id: str
    ) -> None:
        self.db = db
        self.settings = settings
        self.providers = providers
        self.call_id = call_id

    async def _carrier(self) -> tuple[TelephonyProvider, ProviderCall]:
        async with self.db.read() as conn:
            provider_type = (
                await conn.execute(
                    sa.select(calls.c.provider_type).where(calls.c.id == self.call_id)
                )
            ).scalar_one_or_none()
        call = await provider_call_of(self.db, self.settings, self.call_id)
        if provider_type is None or provider_type not in self.providers or call is None:
            raise ToolFailed("the call's carrier cannot be reached")
        return self.providers.get(provider_type), call

    async def transfer(self, destination: str) -> None:
        carrier, call = await self._carrier()
        try:
            await carrier.transfer(call, destination)
        except ProviderError as exc:
            log.warning(
                "transfer failed",
                extra={"call_id": self.call_id, "code": exc.provider_code},
            )
            raise ToolFailed(f"the transfer failed: {exc}") from None
        await apply_event(
            self.db,
            ProviderEvent(
                self.call_id,
                CallEvent.TRANSFERRED,
                at=utcnow(),
                details={"transfer_to": destination},
            ),
            self.settings.sandbox_time_scale,
        )

    async def send_digits(self, digits: str) -> bool:
        carrier, call = await self._carrier()
        try:
            return await carrier.send_digits(call, digits)
        except ProviderError as exc:
            log.warning(
                "sending keys failed", extra={"call_id": self.call_id, "code": exc.provider_code}
            )
            raise ToolFailed(f"the keys could not be sent: {exc}") from None

    async def voicemail_left(self) -> None:
        await apply_event(
            self.db,
            ProviderEvent(
                self.call_id,
                CallEvent.VOICEMAIL_LEFT,
                at=utcnow(),
                answered_by=AnsweredBy.MACHINE,
            ),
            self.settings.sandbox_time_scale,
        )
