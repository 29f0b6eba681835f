"""``client.sandbox``: the sandbox carrier's own operations (inbound calls without a carrier)."""

from __future__ import annotations

from voxline.client._http import AsyncHTTP, Operation, SyncHTTP
from voxline.client.models import Call


def _call_in(to_number: str, persona: str | None) -> Operation:
    body = {"to_number": to_number}
    if persona is not None:
        body["persona"] = persona
    return Operation("POST", "/sandbox/call-in", json=body)


class Sandbox:
    """The sandbox carrier of the key's organization."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def call_in(self, to_number: str, *, persona: str | None = None) -> Call:
        """Have ``persona`` (default ``talker``) call the organization's sandbox number
        ``to_number``; the inbound call as recorded (``failed`` when no agent takes it)."""
        return Call.model_validate(self._http.data(_call_in(to_number, persona)))


class AsyncSandbox:
    """The sandbox carrier of the key's organization (async)."""

    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def call_in(self, to_number: str, *, persona: str | None = None) -> Call:
        """Have ``persona`` (default ``talker``) call the organization's sandbox number
        ``to_number``; the inbound call as recorded (``failed`` when no agent takes it)."""
        return Call.model_validate(await self._http.data(_call_in(to_number, persona)))
