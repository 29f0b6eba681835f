"""``client.tools``: the organization's HTTP tools, which agents enable by id or name."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP, path
from voxline.client.models import Deleted, Page, Tool

PAGE_SIZE = 100


def _create(
    name: str | None, definition: Mapping[str, Any] | None, idempotency_key: str | None
) -> Operation:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if definition is not None:
        body["definition"] = dict(definition)
    return Operation(
        "POST", "/tools", json=body, idempotency_key=idempotency_key or str(uuid.uuid4())
    )


def _update(name: str | None, definition: Mapping[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if definition is not None:
        body["definition"] = dict(definition)
    return body


def _list(name: str | None, limit: int, offset: int) -> Operation:
    return Operation("GET", "/tools", params={"name": name, "limit": limit, "offset": offset})


class Tools:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def create(
        self,
        name: str | None = None,
        definition: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Tool:
        """Create a tool (``name`` may come from ``definition.modelToolName``); a key is
        made up when none is given, and retries reuse it."""
        return Tool.model_validate(self._http.data(_create(name, definition, idempotency_key)))

    def get(self, tool_id: str) -> Tool:
        return Tool.model_validate(self._http.data(Operation("GET", path("tools", tool_id))))

    def update(
        self, tool_id: str, *, name: str | None = None, definition: Mapping[str, Any] | None = None
    ) -> Tool:
        """Change the fields given (a ``definition`` replaces the whole one)."""
        op = Operation("PATCH", path("tools", tool_id), json=_update(name, definition))
        return Tool.model_validate(self._http.data(op))

    def delete(self, tool_id: str) -> Deleted:
        """Delete a tool; a :class:`~voxline.client.errors.Conflict` while agents use it."""
        op = Operation("DELETE", path("tools", tool_id))
        return Deleted.model_validate(self._http.data(op))

    def list(self, *, name: str | None = None, limit: int = 50, offset: int = 0) -> Page[Tool]:
        return Page[Tool].model_validate(self._http.body(_list(name, limit, offset)))

    def iter(self, *, name: str | None = None, page_size: int = PAGE_SIZE) -> Iterator[Tool]:
        offset = 0
        while True:
            page = self.list(name=name, limit=page_size, offset=offset)
            yield from page.data
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)


class AsyncTools:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self,
        name: str | None = None,
        definition: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Tool:
        """Create a tool; see :meth:`Tools.create`."""
        op = _create(name, definition, idempotency_key)
        return Tool.model_validate(await self._http.data(op))

    async def get(self, tool_id: str) -> Tool:
        op = Operation("GET", path("tools", tool_id))
        return Tool.model_validate(await self._http.data(op))

    async def update(
        self, tool_id: str, *, name: str | None = None, definition: Mapping[str, Any] | None = None
    ) -> Tool:
        op = Operation("PATCH", path("tools", tool_id), json=_update(name, definition))
        return Tool.model_validate(await self._http.data(op))

    async def delete(self, tool_id: str) -> Deleted:
        op = Operation("DELETE", path("tools", tool_id))
        return Deleted.model_validate(await self._http.data(op))

    async def list(
        self, *, name: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[Tool]:
        return Page[Tool].model_validate(await self._http.body(_list(name, limit, offset)))

    async def iter(
        self, *, name: str | None = None, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Tool]:
        offset = 0
        while True:
            page = await self.list(name=name, limit=page_size, offset=offset)
            for tool in page.data:
                yield tool
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)
