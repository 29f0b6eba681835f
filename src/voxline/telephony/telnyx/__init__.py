"""Telnyx Call Control v2: REST client, signed webhooks and the media-stream codec."""
