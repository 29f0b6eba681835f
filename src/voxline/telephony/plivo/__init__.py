"""The Plivo adapter: REST client, webhooks (signature V3, callbacks, Plivo XML), media codec."""
