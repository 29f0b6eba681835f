"""The delivery loop: sends customer webhooks from the outbox.

Each round claims due deliveries (:func:`voxline.services.webhook_deliveries.claim_due`,
``SKIP LOCKED`` and a lease on PostgreSQL) and sends each in its own task, owned by the
loop's task group, so a slow or dead receiver holds only its own slots: at most
``webhooks_concurrency_per_endpoint`` requests per endpoint and ``webhooks_max_in_flight`` in
all per worker, each bounded by ``webhooks_timeout_seconds``. Calls never wait for a
delivery.

Before each request the URL passes the SSRF guard again (DNS may have changed since the
endpoint was saved). Redirects are not followed (a 3xx is a failed attempt). The body is
rendered from the stored event, signed with the endpoint's current secret (and the previous
one during a rotation) and carries the event's id as ``webhook-id`` on every attempt.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from voxline.api.schemas.webhooks import event_body
from voxline.config import Settings
from voxline.domain.webhooks import signed_headers
from voxline.engine.wakeup import DELIVER, Wakeups
from voxline.logging import get_logger
from voxline.net import tls
from voxline.net.ssrf import UnsafeUrl, check_url
from voxline.services.webhook_deliveries import Claimed, claim_due, record_attempt
from voxline.services.webhooks import signing_secrets
from voxline.storage.db import Database
from voxline.storage.types import utcnow

log = get_logger("engine.deliveries")

__all__ = ["Deliverer"]


class Deliverer:
    """Sends due webhook deliveries until stopped; ``transport`` replaces the network in
    tests that need no real receiver."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        wakeups: Wakeups,
        worker_id: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.wakeups = wakeups
        self.worker_id = worker_id
        self._transport = transport
        self._busy: dict[str, int] = {}
        self._in_flight = 0
        self._freed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; deliveries in flight then finish (each within its
        timeout)."""
        timeout = httpx.Timeout(self.settings.webhooks_timeout_seconds)
        async with (
            httpx.AsyncClient(
                timeout=timeout,
                follow_redirects=False,
                transport=self._transport,
                verify=tls.client_context(),
            ) as client,
            asyncio.TaskGroup() as group,
        ):
            while not stop.is_set():
                try:
                    claimed = await self._claim()
                except Exception:
                    log.exception("delivery claim failed")
                    claimed = []
                for item in claimed:
                    self._busy[item.endpoint_id] = self._busy.get(item.endpoint_id, 0) + 1
                    self._in_flight += 1
                    group.create_task(self._send(client, item))
                if claimed:
                    continue
                await self._idle(stop)

    async def _idle(self, stop: asyncio.Event) -> None:
        """Until woken (new events, a slot freed) or the poll interval passes."""
        self._freed.clear()
        waits = [
            asyncio.ensure_future(self.wakeups.wait(DELIVER, self.settings.engine_poll_seconds)),
            asyncio.ensure_future(self._freed.wait()),
            asyncio.ensure_future(stop.wait()),
        ]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _claim(self) -> list[Claimed]:
        return await claim_due(
            self.db,
            worker_id=self.worker_id,
            lease_seconds=self.settings.webhooks_lease_seconds,
            limit=self.settings.webhooks_max_in_flight - self._in_flight,
            per_endpoint=self.settings.webhooks_concurrency_per_endpoint,
            busy=self._busy,
        )

    async def _send(self, client: httpx.AsyncClient, item: Claimed) -> None:
        try:
            status_code, error = await self._attempt(client, item)
            await record_attempt(
                self.db,
                self.settings,
                item,
                worker_id=self.worker_id,
                status_code=status_code,
                error=error,
            )
        except Exception:
            # The lease expires and another round (here or elsewhere) sends it again.
            log.exception("delivery not recorded", extra={"delivery_id": item.id})
        finally:
            self._busy[item.endpoint_id] -= 1
            if not self._busy[item.endpoint_id]:
                del self._busy[item.endpoint_id]
            self._in_flight -= 1
            self._freed.set()

    async def _attempt(
        self, client: httpx.AsyncClient, item: Claimed
    ) -> tuple[int | None, str | None]:
        """One request: the receiver's status code, or None and why there was none."""
        url = str(item.endpoint.url)
        try:
            await check_url(
                url,
                allow_http=self.settings.webhooks_allow_http,
                allow_private=self.settings.webhooks_allow_private_networks,
            )
        except UnsafeUrl as exc:
            return None, f"refused: url {exc}"
        body = event_body(
            self.settings,
            event_id=item.event_id,
            event_type=item.event_type,
            created_at=item.event_created_at,
            seq=item.seq,
            payload=item.payload,
        )
        secrets_ = signing_secrets(self.settings, item.endpoint, utcnow())
        headers = signed_headers(secrets_, item.event_id, int(time.time()), body)
        headers["User-Agent"] = "Voxline-Webhooks/1"
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, "timeout"
        except httpx.HTTPError as exc:
            return None, f"connection failed: {type(exc).__name__}"
        error = None if response.is_success else f"HTTP {response.status_code}"
        return response.status_code, error
