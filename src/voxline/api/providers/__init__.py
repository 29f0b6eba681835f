"""Provider-facing routes: one module per telephony provider (webhooks and media stream)."""
