"""``client.numbers``: the organization's phone numbers and their agents."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Literal

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP
from voxline.client.models import Page, PhoneNumber

Direction = Literal["inbound", "outbound"]
PAGE_SIZE = 100


def _list(limit: int, offset: int) -> Operation:
    return Operation("GET", "/telephony/numbers", params={"limit": limit, "offset": offset})


def _import(
    phone_number: str,
    provider_type: str,
    credentials: Mapping[str, str] | None,
    friendly_name: str | None,
) -> Operation:
    body: dict[str, str] = {"phone_number": phone_number, "provider_type": provider_type}
    if friendly_name is not None:
        body["friendly_name"] = friendly_name
    body.update(credentials or {})
    return Operation("POST", "/telephony/numbers/import", json=body)


def _assign(number_id: str, agent_id: str, direction: Direction) -> Operation:
    body = {"number_id": number_id, "agent_id": agent_id, "assignment_type": direction}
    return Operation("POST", "/telephony/numbers/assign", json=body)


def _unassign(number_id: str, direction: Direction) -> Operation:
    body = {"number_id": number_id, "assignment_type": direction}
    return Operation("POST", "/telephony/numbers/unassign", json=body)


class Numbers:
    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def list(self, *, limit: int = 50, offset: int = 0) -> Page[PhoneNumber]:
        return Page[PhoneNumber].model_validate(self._http.body(_list(limit, offset)))

    def iter(self, *, page_size: int = PAGE_SIZE) -> Iterator[PhoneNumber]:
        offset = 0
        while True:
            page = self.list(limit=page_size, offset=offset)
            yield from page.data
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)

    def import_number(
        self,
        phone_number: str,
        provider_type: str,
        credentials: Mapping[str, str] | None = None,
        *,
        friendly_name: str | None = None,
    ) -> PhoneNumber:
        """Import a number owned at a provider. ``credentials`` are that provider's fields
        (``account_sid``/``auth_token`` for Twilio, ``api_key`` for Telnyx, ``auth_id``/
        ``auth_token`` for Plivo); the API stores them encrypted and never returns them."""
        op = _import(phone_number, provider_type, credentials, friendly_name)
        return PhoneNumber.model_validate(self._http.data(op))

    def assign(self, number_id: str, agent_id: str, direction: Direction) -> PhoneNumber:
        op = _assign(number_id, agent_id, direction)
        return PhoneNumber.model_validate(self._http.data(op))

    def unassign(self, number_id: str, direction: Direction) -> PhoneNumber:
        return PhoneNumber.model_validate(self._http.data(_unassign(number_id, direction)))


class AsyncNumbers:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def list(self, *, limit: int = 50, offset: int = 0) -> Page[PhoneNumber]:
        return Page[PhoneNumber].model_validate(await self._http.body(_list(limit, offset)))

    async def iter(self, *, page_size: int = PAGE_SIZE) -> AsyncIterator[PhoneNumber]:
        offset = 0
        while True:
            page = await self.list(limit=page_size, offset=offset)
            for number in page.data:
                yield number
            if not page.pagination.has_more or not page.data:
                return
            offset += len(page.data)

    async def import_number(
        self,
        phone_number: str,
        provider_type: str,
        credentials: Mapping[str, str] | None = None,
        *,
        friendly_name: str | None = None,
    ) -> PhoneNumber:
        """Import a number owned at a provider; see :meth:`Numbers.import_number`."""
        op = _import(phone_number, provider_type, credentials, friendly_name)
        return PhoneNumber.model_validate(await self._http.data(op))

    async def assign(self, number_id: str, agent_id: str, direction: Direction) -> PhoneNumber:
        op = _assign(number_id, agent_id, direction)
        return PhoneNumber.model_validate(await self._http.data(op))

    async def unassign(self, number_id: str, direction: Direction) -> PhoneNumber:
        return PhoneNumber.model_validate(await self._http.data(_unassign(number_id, direction)))
