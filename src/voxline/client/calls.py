"""``client.calls``: place, read, follow, change and delete calls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP, path
from voxline.client.models import BulkDeleteResult, Call, Deleted, Page, Timeline, Transcript

PAGE_SIZE = 100


def new_idempotency_key() -> str:
    """A fresh key for one create; every retry of that create reuses it."""
    return str(uuid.uuid4())


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _create(
    agent_id: str,
    phone_number: str,
    from_number: str | None,
    variables: Mapping[str, Any] | None,
    call_settings: Mapping[str, Any] | None,
    idempotency_key: str | None,
) -> Operation:
    body: dict[str, Any] = {"agent_id": agent_id, "phone_number": phone_number}
    if from_number is not None:
        body["from_number"] = from_number
    if variables is not None:
        body["variables"] = dict(variables)
    if call_settings is not None:
        body["call_settings"] = dict(call_settings)
    return Operation(
        "POST", "/calls", json=body, idempotency_key=idempotency_key or new_idempotency_key()
    )


def _list(
    status: str | None,
    direction: str | None,
    agent_id: str | None,
    created_after: datetime | str | None,
    created_before: datetime | str | None,
    limit: int,
    offset: int,
) -> Operation:
    params = {
        "status": status,
        "direction": direction,
        "agent_id": agent_id,
        "created_after": _iso(created_after),
        "created_before": _iso(created_before),
        "limit": limit,
        "offset": offset,
    }
    return Operation("GET", "/calls", params=params)


def _update(
    call_id: str, context: Mapping[str, Any] | None, call_settings: Mapping[str, Any] | None
) -> Operation:
    body: dict[str, Any] = {}
    if context is not None:
        body["context"] = dict(context)
    if call_settings is not None:
        body["call_settings"] = dict(call_settings)
    return Operation("PATCH", path("calls", call_id), json=body)


def _bulk_delete(ids: Sequence[str]) -> Operation:
    return Operation("POST", "/calls/bulk-delete", json={"ids": list(ids)})


def _recording_url(data: Any) -> str:
    return str(data["recording_url"])


class Calls:
    """Calls of the key's organization."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def create(
        self,
        agent_id: str,
        phone_number: str,
        *,
        from_number: str | None = None,
        variables: Mapping[str, Any] | None = None,
        call_settings: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Call:
        """Place an outbound call. A key is made up when none is given; retries reuse it."""
        op = _create(agent_id, phone_number, from_number, variables, call_settings, idempotency_key)
        return Call.model_validate(self._http.data(op))

    def list(
        self,
        *,
        status: str | None = None,
        direction: str | None = None,
        agent_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Call]:
        """One page of calls, newest first."""
        op = _list(status, direction, agent_id, created_after, created_before, limit, offset)
        return Page[Call].model_validate(self._http.body(op))

    def iter(
        self,
        *,
        status: str | None = None,
        direction: str | None = None,
        agent_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Call]:
        """Every matching call, page after page until ``has_more`` is false."""
        offset = 0
        while True:
            page = self.list(
                status=status,
                direction=direction,
                agent_id=agent_id,
                created_after=created_after,
                created_before=created_before,
                limit=page_size,
                offset=offset,
            )
            yield from page.data
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)

    def get(self, call_id: str) -> Call:
        return Call.model_validate(self._http.data(Operation("GET", path("calls", call_id))))

    def update(
        self,
        call_id: str,
        *,
        context: Mapping[str, Any] | None = None,
        call_settings: Mapping[str, Any] | None = None,
    ) -> Call:
        """Merge ``context`` into the call's; change its recording/transcription flags."""
        return Call.model_validate(self._http.data(_update(call_id, context, call_settings)))

    def delete(self, call_id: str) -> Deleted:
        """Delete an ended call with its transcript and recording."""
        return Deleted.model_validate(self._http.data(Operation("DELETE", path("calls", call_id))))

    def bulk_delete(self, ids: Sequence[str]) -> BulkDeleteResult:
        return BulkDeleteResult.model_validate(self._http.data(_bulk_delete(ids)))

    def transcript(self, call_id: str) -> Transcript:
        op = Operation("GET", path("calls", call_id, "transcript"))
        return Transcript.model_validate(self._http.data(op))

    def events(self, call_id: str) -> Timeline:
        """The call's timeline: status changes, tool calls, transfers, keys, barge-ins."""
        op = Operation("GET", path("calls", call_id, "events"))
        return Timeline.model_validate(self._http.data(op))

    def recording_url(self, call_id: str) -> str:
        """The recording's (expiring, signed) URL."""
        return _recording_url(
            self._http.data(Operation("GET", path("calls", call_id, "recording")))
        )

    def recording(self, call_id: str) -> bytes:
        """The recording's bytes. The URL is signed, so the API key is not sent with it."""
        url = self.recording_url(call_id)
        return self._http.send(Operation("GET", url, authorized=False)).content


class AsyncCalls:
    """Calls of the key's organization (async)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def create(
        self,
        agent_id: str,
        phone_number: str,
        *,
        from_number: str | None = None,
        variables: Mapping[str, Any] | None = None,
        call_settings: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Call:
        """Place an outbound call. A key is made up when none is given; retries reuse it."""
        op = _create(agent_id, phone_number, from_number, variables, call_settings, idempotency_key)
        return Call.model_validate(await self._http.data(op))

    async def list(
        self,
        *,
        status: str | None = None,
        direction: str | None = None,
        agent_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Call]:
        """One page of calls, newest first."""
        op = _list(status, direction, agent_id, created_after, created_before, limit, offset)
        return Page[Call].model_validate(await self._http.body(op))

    async def iter(
        self,
        *,
        status: str | None = None,
        direction: str | None = None,
        agent_id: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> AsyncIterator[Call]:
        """Every matching call, page after page until ``has_more`` is false."""
        offset = 0
        while True:
            page = await self.list(
                status=status,
                direction=direction,
                agent_id=agent_id,
                created_after=created_after,
                created_before=created_before,
                limit=page_size,
                offset=offset,
            )
            for call in page.data:
                yield call
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)

    async def get(self, call_id: str) -> Call:
        return Call.model_validate(await self._http.data(Operation("GET", path("calls", call_id))))

    async def update(
        self,
        call_id: str,
        *,
        context: Mapping[str, Any] | None = None,
        call_settings: Mapping[str, Any] | None = None,
    ) -> Call:
        """Merge ``context`` into the call's; change its recording/transcription flags."""
        return Call.model_validate(await self._http.data(_update(call_id, context, call_settings)))

    async def delete(self, call_id: str) -> Deleted:
        """Delete an ended call with its transcript and recording."""
        op = Operation("DELETE", path("calls", call_id))
        return Deleted.model_validate(await self._http.data(op))

    async def bulk_delete(self, ids: Sequence[str]) -> BulkDeleteResult:
        return BulkDeleteResult.model_validate(await self._http.data(_bulk_delete(ids)))

    async def transcript(self, call_id: str) -> Transcript:
        op = Operation("GET", path("calls", call_id, "transcript"))
        return Transcript.model_validate(await self._http.data(op))

    async def events(self, call_id: str) -> Timeline:
        """The call's timeline; see :meth:`Calls.events`."""
        op = Operation("GET", path("calls", call_id, "events"))
        return Timeline.model_validate(await self._http.data(op))

    async def recording_url(self, call_id: str) -> str:
        """The recording's (expiring, signed) URL."""
        op = Operation("GET", path("calls", call_id, "recording"))
        return _recording_url(await self._http.data(op))

    async def recording(self, call_id: str) -> bytes:
        """The recording's bytes. The URL is signed, so the API key is not sent with it."""
        url = await self.recording_url(call_id)
        return (await self._http.send(Operation("GET", url, authorized=False))).content
