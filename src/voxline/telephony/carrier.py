"""One carrier: the stateless adapter of its REST API and its callbacks (webhooks and
media streams), as a provider package builds them for a deployment."""

from __future__ import annotations

from dataclasses import dataclass

from voxline.telephony.base import TelephonyProvider
from voxline.telephony.callbacks import ProviderCallbacks


@dataclass(frozen=True, slots=True)
class Carrier:
    client: TelephonyProvider
    callbacks: ProviderCallbacks

    @property
    def name(self) -> str:
        return self.client.name
