"""HTTP surface: the public REST API, provider webhooks and media WebSockets."""
