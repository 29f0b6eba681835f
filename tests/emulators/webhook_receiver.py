"""A customer's webhook receiver on a loopback port: it verifies every delivery with the
``standardwebhooks`` library and with the Truedy scheme (``X-Truedy-Signature``), and
records what it accepted. ``answer`` sets the status it replies with (e.g. 503 while "down",
410 to say "gone")."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.emulators.loopback import LoopbackServer


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes


@dataclass
class WebhookReceiver:
    secrets: list[str] = field(default_factory=list)
    answer: int = 204
    delay: float = 0.0  # seconds before answering, to keep deliveries in flight
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    hits: int = 0
    _server: LoopbackServer | None = None
    url: str = ""

    def verify(self, headers: dict[str, str], raw: bytes) -> bool:
        """Whether a delivery verifies by both schemes with one of ``secrets``."""
        standard = truedy = False
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
                standard = True
            except Exception:
                pass
            ts = headers.get("x-truedy-timestamp", "")
            expected = hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256)
            presented = [headers.get("x-truedy-signature", "")]
            presented.append(headers.get("x-truedy-signature-previous", ""))
            if any(hmac.compare_digest(expected.hexdigest(), p) for p in presented) and (
                abs(time.time() - int(ts)) < 300
            ):
                truedy = True
        return standard and truedy

    async def _hook(self, request: Request) -> Response:
        self.hits += 1
        raw = await request.body()
        if self.delay:
            await asyncio.sleep(self.delay)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not self.verify(headers, raw):
            self.refused.append(headers.get("webhook-id", ""))
            return Response(status_code=401)
        if self.answer >= 300:
            return Response(status_code=self.answer)
        self.received.append(Received(headers, json.loads(raw), raw))
        return Response(status_code=self.answer)

    async def start(self) -> str:
        self._server = LoopbackServer(
            Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        )
        self.url = await self._server.start() + "/hook"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [r.body for r in self.received if event is None or r.body["event"] == event]

    async def wait_for(self, predicate: Any, within: float = 20.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not predicate():
            assert loop.time() < deadline, (
                f"receiver got {[r.body['event'] for r in self.received]}"
            )
            await asyncio.sleep(0.02)
