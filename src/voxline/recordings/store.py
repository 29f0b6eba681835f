"""The recording store port: where the stereo WAV of a call is kept, whatever the backend.

A *location* is the text kept in ``calls.recording_path``. Each backend owns its own kind:
the local disk keeps a path relative to ``<data_dir>/recordings`` (``<call_id>.wav``, as
Voxline always has), object storage keeps ``s3://bucket/prefix/<call_id>.wav``. So a
deployment that moves to a bucket keeps serving the recordings it made on disk, and
:meth:`RecordingStores.owner` picks the store of any stored location.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

__all__ = ["RecordingStore", "RecordingStores", "RecordingWriter"]


class RecordingWriter(Protocol):
    """The recording of one call while it runs.

    ``write`` is called inline from the call's task (it must stay cheap: no network);
    ``finish`` finalises the WAV and returns its location; ``discard`` drops everything
    written (a call that ends without a recording to keep)."""

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None: ...

    async def finish(self) -> str: ...

    async def discard(self) -> None: ...


class RecordingStore(Protocol):
    """One backend. Every method is safe to call from the event loop (I/O runs on threads
    or asynchronously) and none raises for a location that is already gone."""

    def owns(self, location: str) -> bool:
        """Whether ``location`` is one of this store's."""
        ...

    async def open(self, call_id: str) -> RecordingWriter:
        """A writer for the recording of ``call_id`` (a UUID string)."""
        ...

    async def local_file(self, location: str) -> Path | None:
        """The recording as a file on this host, when it is one; else ``None``."""
        ...

    async def download_url(self, location: str, filename: str) -> str | None:
        """A short-lived URL the recording can be downloaded from without Voxline, when the
        backend offers one; else ``None``."""
        ...

    async def delete(self, location: str) -> None:
        """Delete the recording; a missing one is no error."""
        ...

    async def older_than(self, cutoff: datetime) -> list[str]:
        """The locations of the finished recordings last written before ``cutoff``."""
        ...


@dataclass(frozen=True, slots=True)
class RecordingStores:
    """The store new recordings go to (``current``) and every store a stored location may
    belong to (``all``, ``current`` first)."""

    current: RecordingStore
    all: tuple[RecordingStore, ...]

    def owner(self, location: str) -> RecordingStore | None:
        """The store of ``location``; ``None`` when none is configured for it (an object
        store URL of a bucket this deployment no longer uses)."""
        return next((store for store in self.all if store.owns(location)), None)
