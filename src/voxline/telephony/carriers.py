"""The carriers a deployment reaches: one stateless adapter per real provider, and its
callbacks (webhooks and media streams).

Every process builds the same set from its settings (``Carriers.for_deployment``); since
the adapters remember nothing between operations, any process can act on any call, with
the credentials of the call's own number. Adding a carrier means its own package
(``client.py``, ``webhooks.py``, ``media.py``, ``callbacks.py``) and a line here for each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from voxline.config import Settings
from voxline.telephony.base import TelephonyProvider
from voxline.telephony.callbacks import ProviderCallbacks
from voxline.telephony.media_tokens import MediaTokens
from voxline.telephony.plivo.callbacks import PlivoCallbacks
from voxline.telephony.plivo.client import PlivoClient
from voxline.telephony.telnyx.callbacks import TelnyxCallbacks
from voxline.telephony.telnyx.client import TelnyxClient
from voxline.telephony.twilio.callbacks import TwilioCallbacks
from voxline.telephony.twilio.client import TwilioClient


@dataclass(frozen=True, slots=True)
class Carriers:
    twilio: TwilioClient
    telnyx: TelnyxClient
    plivo: PlivoClient

    @classmethod
    def for_deployment(cls, settings: Settings) -> Carriers:
        """The adapters of a deployment: its public URL for callbacks and media streams,
        its API base URLs (emulators in tests) and its media tokens."""
        tokens = MediaTokens.for_deployment(
            settings.resolved_secret_key(), settings.media_token_ttl_seconds
        )
        return cls(
            twilio=TwilioClient(
                public_base_url=settings.base_url,
                base_url=settings.twilio_api_base_url,
                stream_token=tokens.minter("twilio"),
            ),
            telnyx=TelnyxClient(
                public_base_url=settings.base_url,
                base_url=settings.telnyx_api_base_url,
                stream_auth_token=tokens.minter("telnyx"),
            ),
            plivo=PlivoClient(
                public_base_url=settings.base_url, api_base_url=settings.plivo_api_base_url
            ),
        )

    def __iter__(self) -> Iterator[TelephonyProvider]:
        yield self.twilio
        yield self.telnyx
        yield self.plivo

    def by_name(self) -> dict[str, TelephonyProvider]:
        return {carrier.name: carrier for carrier in self}

    def callbacks(self) -> dict[str, ProviderCallbacks]:
        """Each carrier's webhooks and media streams, by provider name."""
        handlers: list[ProviderCallbacks] = [
            TwilioCallbacks(),
            TelnyxCallbacks(self.telnyx),
            PlivoCallbacks(),
        ]
        return {handler.name: handler for handler in handlers}

    async def aclose(self) -> None:
        for carrier in self:
            await carrier.aclose()
