"""``client.agents``: the voice agents that take calls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP, path
from voxline.client.models import Agent, Deleted, Page

PAGE_SIZE = 100


def _create(
    name: str, system_prompt: str, fields: dict[str, Any], idempotency_key: str | None
) -> Operation:
    body = {"name": name, "system_prompt": system_prompt, **fields}
    return Operation(
        "POST", "/agents", json=body, idempotency_key=idempotency_key or str(uuid.uuid4())
    )


def _list(status: str | None, name: str | None, limit: int, offset: int) -> Operation:
    params = {"status": status, "name": name, "limit": limit, "offset": offset}
    return Operation("GET", "/agents", params=params)


class Agents:
    """Agents of the key's organization."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def create(
        self, name: str, system_prompt: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> Agent:
        """Create an agent; ``fields`` are the API's optional ones (``greeting``, ``model``,
        ``voice_id``, ``temperature``, ``max_duration``, ``status``, …). A key is made up
        when none is given; retries reuse it."""
        op = _create(name, system_prompt, fields, idempotency_key)
        return Agent.model_validate(self._http.data(op))

    def list(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Agent]:
        return Page[Agent].model_validate(self._http.body(_list(status, name, limit, offset)))

    def iter(
        self, *, status: str | None = None, name: str | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[Agent]:
        """Every matching agent, page after page until ``has_more`` is false."""
        offset = 0
        while True:
            page = self.list(status=status, name=name, limit=page_size, offset=offset)
            yield from page.data
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)

    def get(self, agent_id: str) -> Agent:
        return Agent.model_validate(self._http.data(Operation("GET", path("agents", agent_id))))

    def update(self, agent_id: str, **changes: Any) -> Agent:
        """Change only the fields given; ``None`` clears ``description``, ``greeting`` or
        ``voice_id``."""
        op = Operation("PATCH", path("agents", agent_id), json=changes)
        return Agent.model_validate(self._http.data(op))

    def delete(self, agent_id: str) -> Deleted:
        op = Operation("DELETE", path("agents", agent_id))
        return Deleted.model_validate(self._http.data(op))


class AsyncAgents:
    """Agents of the key's organization (async)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self, name: str, system_prompt: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> Agent:
        """Create an agent; see :meth:`Agents.create`."""
        op = _create(name, system_prompt, fields, idempotency_key)
        return Agent.model_validate(await self._http.data(op))

    async def list(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Agent]:
        return Page[Agent].model_validate(await self._http.body(_list(status, name, limit, offset)))

    async def iter(
        self, *, status: str | None = None, name: str | None = None, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[Agent]:
        """Every matching agent, page after page until ``has_more`` is false."""
        offset = 0
        while True:
            page = await self.list(status=status, name=name, limit=page_size, offset=offset)
            for agent in page.data:
                yield agent
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)

    async def get(self, agent_id: str) -> Agent:
        op = Operation("GET", path("agents", agent_id))
        return Agent.model_validate(await self._http.data(op))

    async def update(self, agent_id: str, **changes: Any) -> Agent:
        """Change only the fields given; see :meth:`Agents.update`."""
        op = Operation("PATCH", path("agents", agent_id), json=changes)
        return Agent.model_validate(await self._http.data(op))

    async def delete(self, agent_id: str) -> Deleted:
        op = Operation("DELETE", path("agents", agent_id))
        return Deleted.model_validate(await self._http.data(op))
