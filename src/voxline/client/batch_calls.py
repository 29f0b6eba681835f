"""``client.batch_calls``: campaigns that call a list of contacts with one agent.

``create`` takes the API's fields as keyword arguments (``contacts``, ``contact_ids``,
``contact_folder_id``, ``start_time``, ``retry_policy``, …) and sends an idempotency key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP, path
from voxline.client.models import (
    BatchAnalytics,
    BatchCall,
    BatchContact,
    BatchStatusChange,
    BulkDeleteResult,
    ContactsAdded,
    Deleted,
    Page,
)


def _create(
    name: str, agent_id: str, fields: Mapping[str, Any], idempotency_key: str | None
) -> Operation:
    body = {"name": name, "agent_id": agent_id, **fields}
    key = idempotency_key or str(uuid.uuid4())
    return Operation("POST", "/batch-calls", json=body, idempotency_key=key)


def _list(agent_id: str | None, status: str | None, limit: int, offset: int) -> Operation:
    params = {"agent_id": agent_id, "status": status, "limit": limit, "offset": offset}
    return Operation("GET", "/batch-calls", params=params)


def _action(batch_id: str, action: str, body: Mapping[str, Any] | None = None) -> Operation:
    return Operation("POST", path("batch-calls", batch_id, action), json=dict(body or {}))


def _contacts(batch_id: str, status: str | None, limit: int, offset: int) -> Operation:
    params = {"status": status, "limit": limit, "offset": offset}
    return Operation("GET", path("batch-calls", batch_id, "contacts"), params=params)


def _schedule(scheduled_at: str | None, timezone: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if scheduled_at is not None:
        body["scheduled_at"] = scheduled_at
    if timezone is not None:
        body["timezone"] = timezone
    return body


class BatchCalls:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def create(
        self, name: str, agent_id: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> BatchCall:
        """Create a draft batch with its contacts (retries reuse the idempotency key)."""
        op = _create(name, agent_id, fields, idempotency_key)
        return BatchCall.model_validate(self._http.data(op))

    def get(self, batch_id: str) -> BatchCall:
        op = Operation("GET", path("batch-calls", batch_id))
        return BatchCall.model_validate(self._http.data(op))

    def list(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[BatchCall]:
        op = _list(agent_id, status, limit, offset)
        return Page[BatchCall].model_validate(self._http.body(op))

    def update(self, batch_id: str, **fields: Any) -> BatchCall:
        op = Operation("PATCH", path("batch-calls", batch_id), json=fields)
        return BatchCall.model_validate(self._http.data(op))

    def schedule(
        self, batch_id: str, *, scheduled_at: str | None = None, timezone: str | None = None
    ) -> BatchStatusChange:
        op = _action(batch_id, "schedule", _schedule(scheduled_at, timezone))
        return BatchStatusChange.model_validate(self._http.data(op))

    def pause(self, batch_id: str) -> BatchStatusChange:
        return BatchStatusChange.model_validate(self._http.data(_action(batch_id, "pause")))

    def resume(self, batch_id: str) -> BatchStatusChange:
        return BatchStatusChange.model_validate(self._http.data(_action(batch_id, "resume")))

    def cancel(self, batch_id: str) -> BatchStatusChange:
        return BatchStatusChange.model_validate(self._http.data(_action(batch_id, "cancel")))

    def delete(self, batch_id: str) -> Deleted:
        op = Operation("DELETE", path("batch-calls", batch_id))
        return Deleted.model_validate(self._http.data(op))

    def bulk_delete(self, ids: Sequence[str]) -> BulkDeleteResult:
        op = Operation("POST", "/batch-calls/bulk-delete", json={"ids": list(ids)})
        return BulkDeleteResult.model_validate(self._http.data(op))

    def contacts(
        self, batch_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[BatchContact]:
        op = _contacts(batch_id, status, limit, offset)
        return Page[BatchContact].model_validate(self._http.body(op))

    def add_contacts(self, batch_id: str, contacts: Sequence[Mapping[str, Any]]) -> ContactsAdded:
        op = _action(batch_id, "contacts", {"contacts": [dict(c) for c in contacts]})
        return ContactsAdded.model_validate(self._http.data(op))

    def analytics(self, batch_id: str) -> BatchAnalytics:
        op = Operation("GET", path("batch-calls", batch_id, "analytics"))
        return BatchAnalytics.model_validate(self._http.data(op))


class AsyncBatchCalls:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self, name: str, agent_id: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> BatchCall:
        op = _create(name, agent_id, fields, idempotency_key)
        return BatchCall.model_validate(await self._http.data(op))

    async def get(self, batch_id: str) -> BatchCall:
        op = Operation("GET", path("batch-calls", batch_id))
        return BatchCall.model_validate(await self._http.data(op))

    async def list(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[BatchCall]:
        op = _list(agent_id, status, limit, offset)
        return Page[BatchCall].model_validate(await self._http.body(op))

    async def update(self, batch_id: str, **fields: Any) -> BatchCall:
        op = Operation("PATCH", path("batch-calls", batch_id), json=fields)
        return BatchCall.model_validate(await self._http.data(op))

    async def schedule(
        self, batch_id: str, *, scheduled_at: str | None = None, timezone: str | None = None
    ) -> BatchStatusChange:
        op = _action(batch_id, "schedule", _schedule(scheduled_at, timezone))
        return BatchStatusChange.model_validate(await self._http.data(op))

    async def pause(self, batch_id: str) -> BatchStatusChange:
        op = _action(batch_id, "pause")
        return BatchStatusChange.model_validate(await self._http.data(op))

    async def resume(self, batch_id: str) -> BatchStatusChange:
        op = _action(batch_id, "resume")
        return BatchStatusChange.model_validate(await self._http.data(op))

    async def cancel(self, batch_id: str) -> BatchStatusChange:
        op = _action(batch_id, "cancel")
        return BatchStatusChange.model_validate(await self._http.data(op))

    async def delete(self, batch_id: str) -> Deleted:
        op = Operation("DELETE", path("batch-calls", batch_id))
        return Deleted.model_validate(await self._http.data(op))

    async def bulk_delete(self, ids: Sequence[str]) -> BulkDeleteResult:
        op = Operation("POST", "/batch-calls/bulk-delete", json={"ids": list(ids)})
        return BulkDeleteResult.model_validate(await self._http.data(op))

    async def contacts(
        self, batch_id: str, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[BatchContact]:
        op = _contacts(batch_id, status, limit, offset)
        return Page[BatchContact].model_validate(await self._http.body(op))

    async def add_contacts(
        self, batch_id: str, contacts: Sequence[Mapping[str, Any]]
    ) -> ContactsAdded:
        op = _action(batch_id, "contacts", {"contacts": [dict(c) for c in contacts]})
        return ContactsAdded.model_validate(await self._http.data(op))

    async def analytics(self, batch_id: str) -> BatchAnalytics:
        op = Operation("GET", path("batch-calls", batch_id, "analytics"))
        return BatchAnalytics.model_validate(await self._http.data(op))
