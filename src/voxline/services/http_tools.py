"""Running an agent's HTTP tools during a call.

One :class:`HttpTools` per live call. Each request is built by
:func:`voxline.domain.tool_requests.build_request`, goes through the SSRF guard (the URL,
after its path parameters are filled in, must resolve to public addresses unless
``VOXLINE_TOOLS_ALLOW_PRIVATE_NETWORKS`` is set; redirects are not followed), and carries:

- ``X-Voxline-Call-Id`` and ``X-Voxline-Tool-Call-Id``, unique per invocation, so the
  receiver can make a side effect happen once;
- the signatures of the organization's customer webhooks (``domain.webhooks``: the Truedy
  and Standard Webhooks headers) computed with the secrets of its enabled webhook endpoints,
  so a receiver verifies tool requests exactly as it verifies webhooks. An organization
  without a webhook endpoint sends unsigned tool requests.

The answer must be JSON and at most ``tools_max_response_bytes``; an HTTP error status, a
non-JSON or oversized answer, a refused URL or a network failure raises
:class:`~voxline.voice.tools.ToolFailed`, which the model reads as ``{"error": …}``. No URL,
header value or answer is logged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import sqlalchemy as sa

from voxline.config import Settings
from voxline.domain.tool_requests import CallFacts, RequestProblem, build_request
from voxline.domain.tools import HttpTool
from voxline.domain.webhooks import signed_headers
from voxline.logging import get_logger
from voxline.net import tls
from voxline.net.ssrf import UnsafeUrl, check_url
from voxline.services.webhooks import signing_secrets
from voxline.storage.db import Database
from voxline.storage.tables import webhook_endpoints
from voxline.storage.types import utcnow
from voxline.voice.brain.base import ToolCall, Turn, Utterance
from voxline.voice.tools import ToolFailed

log = get_logger("services.http_tools")

# Endpoints whose secrets sign a tool request (the oldest enabled ones).
MAX_SIGNING_ENDPOINTS = 5


async def signing_secrets_of(db: Database, settings: Settings, organization_id: str) -> list[str]:
    """The secrets that sign the organization's tool requests: those of its enabled webhook
    endpoints, oldest first (each endpoint's current secret, then a rotated-out one still
    within its overlap)."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(webhook_endpoints)
                .where(
                    webhook_endpoints.c.organization_id == organization_id,
                    webhook_endpoints.c.enabled.is_(True),
                )
                .order_by(webhook_endpoints.c.created_at)
                .limit(MAX_SIGNING_ENDPOINTS)
            )
        ).all()
    now = utcnow()
    found: list[str] = []
    for row in rows:
        found += [s for s in signing_secrets(settings, row, now) if s not in found]
    return found


def conversation(history: Sequence[Turn]) -> list[dict[str, str]]:
    return [
        {"speaker": turn.speaker, "text": turn.text}
        for turn in history
        if isinstance(turn, Utterance) and turn.text
    ]


class HttpTools:
    """Sends the HTTP tool requests of one call."""

    def __init__(
        self,
        settings: Settings,
        facts: CallFacts,
        secrets: Sequence[str] = (),
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self.facts = facts
        self.secrets = list(secrets)
        self._client = client
        self._owned = client is None

    async def aclose(self) -> None:
        if self._client is not None and self._owned:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, verify=tls.client_context())
        return self._client

    async def run(
        self, tool: HttpTool, call: ToolCall, arguments: Mapping[str, Any], history: Sequence[Turn]
    ) -> Any:
        try:
            request = build_request(tool, arguments, self.facts, conversation(history))
        except RequestProblem as exc:
            raise ToolFailed(str(exc)) from None
        try:
            await check_url(
                request.url,
                allow_http=True,
                allow_private=self.settings.tools_allow_private_networks,
            )
        except UnsafeUrl as exc:
            raise ToolFailed(f"the tool's URL is refused: {exc}") from None
        invocation = f"tc_{uuid.uuid4().hex}"
        content = request.content()
        headers = {"Accept": "application/json", **request.headers}
        headers["X-Voxline-Call-Id"] = self.facts.call_id
        headers["X-Voxline-Tool-Call-Id"] = invocation
        if self.secrets:
            headers.update(signed_headers(self.secrets, invocation, int(time.time()), content))
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        else:
            headers.pop("Content-Type", None)
        limit = self.settings.tools_max_response_bytes
        try:
            async with self._http().stream(
                request.method,
                request.url,
                params=request.query or None,
                headers=headers,
                content=content if request.body is not None else None,
                timeout=httpx.Timeout(tool.timeout_seconds),
            ) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise ToolFailed(f"the tool's answer is over {limit} bytes")
                status = response.status_code
        except httpx.TimeoutException:
            raise ToolFailed(f"the tool did not answer within {tool.timeout_seconds:g}s") from None
        except httpx.HTTPError as exc:
            raise ToolFailed(f"the tool could not be reached ({type(exc).__name__})") from None
        log.info(
            "tool request answered",
            extra={"call_id": self.facts.call_id, "tool": tool.model_tool_name, "status": status},
        )
        if 300 <= status < 400:
            raise ToolFailed(f"the tool answered HTTP {status} (redirects are not followed)")
        if status >= 400:
            raise ToolFailed(f"the tool answered HTTP {status}")
        if not body.strip():
            return {"status": status}
        try:
            return json.loads(bytes(body))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ToolFailed("the tool's answer is not JSON") from None
