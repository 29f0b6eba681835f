"""The carriers a deployment reaches: one stateless adapter per real provider, and its
callbacks (webhooks and media streams).

Every process builds the same set from its settings (``Carriers.for_deployment``); since
the adapters remember nothing between operations, any process can act on any call, with
the credentials of the call's own number. A carrier is its own package (``client.py``,
``webhooks.py``, ``media.py``, ``callbacks.py`` and a ``carrier()`` factory in its
``__init__``) plus one line in :data:`FACTORIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from voxline.config import Settings
from voxline.telephony import plivo, telnyx, twilio
from voxline.telephony.base import TelephonyProvider
from voxline.telephony.callbacks import ProviderCallbacks
from voxline.telephony.carrier import Carrier
from voxline.telephony.media_tokens import MediaTokens

FACTORIES: tuple[Callable[[Settings, MediaTokens], Carrier], ...] = (
    twilio.carrier,
    telnyx.carrier,
    plivo.carrier,
)


class Carriers:
    """The deployment's carriers by provider name."""

    def __init__(self, carriers: list[Carrier]) -> None:
        self._carriers = {carrier.name: carrier for carrier in carriers}

    @classmethod
    def for_deployment(cls, settings: Settings) -> Carriers:
        """Every carrier of :data:`FACTORIES`, with the deployment's public URL for callbacks
        and media streams, its API base URLs (emulators in tests) and its media tokens."""
        tokens = MediaTokens.for_deployment(
            settings.resolved_secret_key(), settings.media_token_ttl_seconds
        )
        return cls([factory(settings, tokens) for factory in FACTORIES])

    def __iter__(self) -> Iterator[TelephonyProvider]:
        return (carrier.client for carrier in self._carriers.values())

    def by_name(self) -> dict[str, TelephonyProvider]:
        return {name: carrier.client for name, carrier in self._carriers.items()}

    def callbacks(self) -> dict[str, ProviderCallbacks]:
        """Each carrier's webhooks and media streams, by provider name."""
        return {name: carrier.callbacks for name, carrier in self._carriers.items()}

    async def aclose(self) -> None:
        for client in self:
            await client.aclose()
