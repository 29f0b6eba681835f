"""The Plivo adapter: REST client, webhooks (signature V3, callbacks, Plivo XML), media
codec and callbacks. :func:`carrier` builds it for a deployment."""

from __future__ import annotations

from voxline.config import Settings
from voxline.telephony.carrier import Carrier
from voxline.telephony.media_tokens import MediaTokens


def carrier(settings: Settings, tokens: MediaTokens) -> Carrier:
    """Plivo for this deployment: its API (an emulator in tests) and Voxline's public URL."""
    from voxline.telephony.plivo.callbacks import PlivoCallbacks
    from voxline.telephony.plivo.client import PlivoClient

    client = PlivoClient(
        public_base_url=settings.base_url, api_base_url=settings.plivo_api_base_url
    )
    return Carrier(client, PlivoCallbacks())
