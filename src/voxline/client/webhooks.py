"""``client.webhooks``: the organization's webhook endpoints (verify what they receive with
:func:`voxline.client.verify_webhook`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP, path
from voxline.client.models import Deleted, Page, WebhookEndpoint, WebhookEndpointWithSecret


def _create(url: str, event_types: Sequence[str], description: str | None) -> Operation:
    body: dict[str, Any] = {"url": url, "event_types": list(event_types)}
    if description is not None:
        body["description"] = description
    return Operation("POST", "/webhooks", json=body)


def _update(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


class Webhooks:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def create(
        self, url: str, event_types: Sequence[str], *, description: str | None = None
    ) -> WebhookEndpointWithSecret:
        """Create an endpoint; the answer carries its signing secret, shown this once."""
        op = _create(url, event_types, description)
        return WebhookEndpointWithSecret.model_validate(self._http.data(op))

    def list(self, *, limit: int = 50, offset: int = 0) -> Page[WebhookEndpoint]:
        op = Operation("GET", "/webhooks", params={"limit": limit, "offset": offset})
        return Page[WebhookEndpoint].model_validate(self._http.body(op))

    def get(self, webhook_id: str) -> WebhookEndpoint:
        op = Operation("GET", path("webhooks", webhook_id))
        return WebhookEndpoint.model_validate(self._http.data(op))

    def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        enabled: bool | None = None,
        description: str | None = None,
    ) -> WebhookEndpoint:
        body = _update(
            url=url,
            event_types=list(event_types) if event_types is not None else None,
            enabled=enabled,
            description=description,
        )
        op = Operation("PATCH", path("webhooks", webhook_id), json=body)
        return WebhookEndpoint.model_validate(self._http.data(op))

    def rotate_secret(self, webhook_id: str) -> WebhookEndpointWithSecret:
        op = Operation("POST", path("webhooks", webhook_id, "rotate-secret"))
        return WebhookEndpointWithSecret.model_validate(self._http.data(op))

    def delete(self, webhook_id: str) -> Deleted:
        op = Operation("DELETE", path("webhooks", webhook_id))
        return Deleted.model_validate(self._http.data(op))


class AsyncWebhooks:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self, url: str, event_types: Sequence[str], *, description: str | None = None
    ) -> WebhookEndpointWithSecret:
        op = _create(url, event_types, description)
        return WebhookEndpointWithSecret.model_validate(await self._http.data(op))

    async def list(self, *, limit: int = 50, offset: int = 0) -> Page[WebhookEndpoint]:
        op = Operation("GET", "/webhooks", params={"limit": limit, "offset": offset})
        return Page[WebhookEndpoint].model_validate(await self._http.body(op))

    async def get(self, webhook_id: str) -> WebhookEndpoint:
        op = Operation("GET", path("webhooks", webhook_id))
        return WebhookEndpoint.model_validate(await self._http.data(op))

    async def delete(self, webhook_id: str) -> Deleted:
        op = Operation("DELETE", path("webhooks", webhook_id))
        return Deleted.model_validate(await self._http.data(op))
