"""Recordings on this host's disk: ``<data_dir>/recordings/<call_id>.wav`` (the default).

A location is the path relative to the recordings directory; one that resolves outside it
is never read nor deleted, whatever wrote it.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path

from voxline.logging import get_logger
from voxline.voice.recorder import CallRecorder

__all__ = ["LocalRecordings", "LocalWriter"]

log = get_logger("recordings.local")


class LocalWriter:
    """A :class:`CallRecorder` in the recordings directory; ``finish`` closes it on a
    thread (the header patch and the last flush) and returns its relative path."""

    def __init__(self, recorder: CallRecorder) -> None:
        self.recorder = recorder

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None:
        self.recorder.write(agent_pcm, contact_pcm)

    async def finish(self) -> str:
        return await asyncio.to_thread(self.recorder.close)

    async def discard(self) -> None:
        await asyncio.to_thread(self.recorder.close)
        self.recorder.path.unlink(missing_ok=True)


class LocalRecordings:
    """The recording store on local disk."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def owns(self, location: str) -> bool:
        return "://" not in location

    def path(self, location: str) -> Path | None:
        """The absolute path of ``location``, or ``None`` if it points outside the root."""
        root = self.root.resolve()
        path = (root / location).resolve()
        return path if path.is_relative_to(root) else None

    async def open(self, call_id: str) -> LocalWriter:
        return LocalWriter(await asyncio.to_thread(CallRecorder, self.root, call_id))

    async def local_file(self, location: str) -> Path | None:
        path = self.path(location)
        if path is None or not await asyncio.to_thread(path.is_file):
            return None
        return path

    async def download_url(self, location: str, filename: str) -> str | None:
        return None

    async def delete(self, location: str) -> None:
        path = self.path(location)
        if path is not None:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def older_than(self, cutoff: datetime) -> list[str]:
        limit = cutoff.timestamp()

        def scan() -> list[str]:
            if not self.root.is_dir():
                return []
            found = []
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if (
                        entry.name.endswith(".wav")
                        and entry.is_file(follow_symlinks=False)
                        and entry.stat().st_mtime < limit
                    ):
                        found.append(entry.name)
            return sorted(found)

        return await asyncio.to_thread(scan)
