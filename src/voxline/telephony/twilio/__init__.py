"""The Twilio adapter: REST client, webhooks (signatures, events, TwiML) and media codec."""
