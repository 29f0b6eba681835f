"""What both sandbox lines share: who hung up first, and waiting for something unless the
line closes meanwhile."""

from __future__ import annotations

import asyncio
from typing import TypeVar

from voxline.voice.channel import LineClosed

T = TypeVar("T")


class Hangup:
    """The line's hang-up state; the first side to hang up is remembered."""

    def __init__(self) -> None:
        self.closed_by: str | None = None
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def hangup(self, by: str) -> None:
        if not self._closed.is_set():
            self.closed_by = by
            self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def next_or_closed(
        self, queue: asyncio.Queue[T], wait_seconds: float | None = None
    ) -> T | None:
        """The next item of ``queue``; None after ``wait_seconds``; :class:`LineClosed` once
        the line is closed and the queue empty."""
        if not queue.empty():
            return queue.get_nowait()
        if self.closed:
            raise LineClosed
        getter = asyncio.ensure_future(queue.get())
        closer = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait(
                {getter, closer}, timeout=wait_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            closer.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        if self.closed:
            raise LineClosed
        return None
