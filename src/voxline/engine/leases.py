"""Leases of the live calls this process hosts, whoever placed them.

A call's lease says which process holds it and until when. The engine that claims a call
holds its lease while it places it; once a call is live, the process that hosts its
conversation holds it: the engine for a sandbox call, and for a Twilio, Telnyx or Plivo
call whichever process its media stream reached (any API node). Each hosting process renews
the leases of all the calls it hosts in one statement every third of
``engine_lease_seconds``, and takes a call's lease over as soon as it starts hosting it.

A renewal sets the lease to expire ``engine_lease_seconds`` after it, so a lease that
expired tells recovery when the call was last known alive: that is when it is billed to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator

from voxline.engine.claims import renew_leases
from voxline.logging import get_logger
from voxline.storage.db import Database

log = get_logger("engine.leases")


def new_worker_id() -> str:
    """An id for this process in ``calls.lease_owner``: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseKeeper:
    """The calls this process hosts, and the one loop that keeps their leases.

    The loop runs while at least one call is held and ends on its own after the last one;
    :meth:`aclose` stops it at shutdown.
    """

    def __init__(self, db: Database, worker_id: str, lease_seconds: float) -> None:
        self.db = db
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self._held: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None
        # Set when a call starts being held: the loop renews at once instead of waiting.
        self._due = asyncio.Event()

    @property
    def hosted(self) -> list[str]:
        """Ids of the calls held now, sorted."""
        return sorted(self._held)

    @contextlib.asynccontextmanager
    async def hold(self, call_id: str) -> AsyncIterator[None]:
        """Host ``call_id`` for the block: its lease is taken over at the next round, which
        starts at once (in the background, so the call's session is not held up, and in one
        statement with the other calls that started meanwhile), and is kept renewed."""
        self._held[call_id] += 1
        self._due.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="voxline-leases")
        try:
            yield
        finally:
            self._held[call_id] -= 1
            if self._held[call_id] <= 0:
                del self._held[call_id]

    async def renew(self) -> None:
        """Renew the leases of every call held now."""
        try:
            await renew_leases(self.db, self.worker_id, self.hosted, self.lease_seconds)
        except Exception:
            # The next round tries again; a call is only recovered once its lease expired.
            log.exception("lease renewal failed", extra={"count": len(self._held)})

    async def _run(self) -> None:
        interval = self.lease_seconds / 3
        while self._held:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), interval)
            self._due.clear()
            await self.renew()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
