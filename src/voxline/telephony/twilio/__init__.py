"""The Twilio adapter: REST client, webhooks (signatures, events, TwiML), media codec and
callbacks. :func:`carrier` builds it for a deployment."""

from __future__ import annotations

from voxline.config import Settings
from voxline.telephony.carrier import Carrier
from voxline.telephony.media_tokens import MediaTokens


def carrier(settings: Settings, tokens: MediaTokens) -> Carrier:
    """Twilio for this deployment: its API (an emulator in tests) and Voxline's public URL."""
    from voxline.telephony.twilio.callbacks import TwilioCallbacks
    from voxline.telephony.twilio.client import TwilioClient

    client = TwilioClient(
        public_base_url=settings.base_url,
        base_url=settings.twilio_api_base_url,
        stream_token=tokens.minter("twilio"),
    )
    return Carrier(client, TwilioCallbacks())
