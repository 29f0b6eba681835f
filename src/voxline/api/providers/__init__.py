"""Provider-facing routes: one router for every provider's webhooks and media streams
(``routes``), the host their callbacks ask (``host``) and the media-socket checks
(``media``)."""
