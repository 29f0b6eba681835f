"""Telnyx Call Control v2: REST client, signed webhooks, the media-stream codec and
callbacks. :func:`carrier` builds it for a deployment."""

from __future__ import annotations

from voxline.config import Settings
from voxline.telephony.carrier import Carrier
from voxline.telephony.media_tokens import MediaTokens


def carrier(settings: Settings, tokens: MediaTokens) -> Carrier:
    """Telnyx for this deployment: its API (an emulator in tests) and Voxline's public URL."""
    from voxline.telephony.telnyx.callbacks import TelnyxCallbacks
    from voxline.telephony.telnyx.client import TelnyxClient

    client = TelnyxClient(
        public_base_url=settings.base_url,
        base_url=settings.telnyx_api_base_url,
        stream_auth_token=tokens.minter("telnyx"),
    )
    return Carrier(client, TelnyxCallbacks(client))
