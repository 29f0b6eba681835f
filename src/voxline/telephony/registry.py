"""Which adapter serves which provider type."""

from __future__ import annotations

from collections.abc import Mapping

from voxline.errors import ProviderError
from voxline.telephony.base import TelephonyProvider


class ProviderRegistry:
    def __init__(self, providers: Mapping[str, TelephonyProvider]) -> None:
        self._providers = dict(providers)

    def get(self, provider_type: str) -> TelephonyProvider:
        provider = self._providers.get(provider_type)
        if provider is None:
            raise ProviderError(
                f"No {provider_type} adapter is available in this deployment",
                provider=provider_type,
                retryable=False,
            )
        return provider

    def names(self) -> list[str]:
        """The provider types served here, in registration order."""
        return list(self._providers)

    def __contains__(self, provider_type: str) -> bool:
        return provider_type in self._providers
