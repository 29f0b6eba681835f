"""Recordings in an S3-compatible bucket (``VOXLINE_RECORDINGS_URL=s3://bucket/prefix``).

A call's recording is streamed up while the call runs (:mod:`voxline.recordings.upload`)
and kept as ``<prefix><call_id>.wav``; its location is ``s3://bucket/<prefix><call_id>.wav``.
Downloads never pass through Voxline: :meth:`S3Recordings.download_url` presigns a GET that
expires after ``VOXLINE_RECORDINGS_S3_DOWNLOAD_TTL_SECONDS``. Until a spool is uploaded
(the store was unreachable at the end of the call) the spool file on the host that recorded
it is served instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.recordings.bucket import S3Bucket, S3Config
from voxline.recordings.upload import FINISH_WAITS, SpooledUpload, UploadFailed
from voxline.voice.recorder import CallRecorder

__all__ = ["S3Recordings", "S3Writer"]

log = get_logger("recordings.s3")

# A spool file untouched this long belongs to no live call (a recorder flushes every second).
STALE_SPOOL_SECONDS = 120.0


class S3Writer:
    """A call's recording on its way to the bucket (a :class:`SpooledUpload`)."""

    def __init__(self, store: S3Recordings, upload: SpooledUpload, location: str) -> None:
        self._store = store
        self.upload = upload
        self.location = location

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None:
        self.upload.write(agent_pcm, contact_pcm)

    async def finish(self) -> str:
        """The object's location, also when the upload failed: the spool is then kept (and
        served) until the engine's upkeep uploads it."""
        try:
            await self.upload.finish()
        except UploadFailed:
            log.warning("recording kept in the spool for a later upload")
        finally:
            self._store.live.discard(self.upload.spool.name)
        return self.location

    async def discard(self) -> None:
        try:
            await self.upload.discard()
        finally:
            self._store.live.discard(self.upload.spool.name)


class S3Recordings:
    """The recording store in one bucket and key prefix."""

    def __init__(
        self, config: S3Config, spool_dir: Path, *, waits: Sequence[float] = FINISH_WAITS
    ) -> None:
        self.bucket = S3Bucket(config)
        self.spool_dir = spool_dir
        self.waits = tuple(waits)
        # Spool file names of the calls recording in this process.
        self.live: set[str] = set()

    @property
    def config(self) -> S3Config:
        return self.bucket.config

    def key_for(self, call_id: str) -> str:
        return f"{self.config.prefix}{call_id}.wav"

    def location_of(self, key: str) -> str:
        return f"s3://{self.config.bucket}/{key}"

    def key_of(self, location: str) -> str | None:
        """The key of a location in this bucket under this prefix; else ``None``."""
        head = f"s3://{self.config.bucket}/"
        if not location.startswith(head):
            return None
        key = location.removeprefix(head)
        return key if key.startswith(self.config.prefix) and ".." not in key else None

    def owns(self, location: str) -> bool:
        return self.key_of(location) is not None

    def _spool_of(self, key: str) -> Path:
        return self.spool_dir / key.removeprefix(self.config.prefix)

    async def open(self, call_id: str) -> S3Writer:
        recorder = await asyncio.to_thread(CallRecorder, self.spool_dir, call_id)
        key = self.key_for(call_id)
        upload = SpooledUpload.streaming(self.bucket, key, recorder, waits=self.waits)
        self.live.add(recorder.path.name)
        return S3Writer(self, upload, self.location_of(key))

    async def local_file(self, location: str) -> Path | None:
        key = self.key_of(location)
        if key is None or self._spool_of(key).name in self.live:
            return None
        spool = self._spool_of(key)
        return spool if await asyncio.to_thread(spool.is_file) else None

    async def download_url(self, location: str, filename: str) -> str | None:
        """A presigned GET of the object; ``None`` when it is gone (asked with a HEAD, so a
        deleted recording is Voxline's clean 404, not the store's error page)."""
        key = self.key_of(location)
        if key is None or not await self.bucket.exists(key):
            return None
        return await self.bucket.presign_get(key, filename)

    async def exists(self, location: str) -> bool:
        key = self.key_of(location)
        return key is not None and await self.bucket.exists(key)

    async def delete(self, location: str) -> None:
        key = self.key_of(location)
        if key is None:
            return
        await self.bucket.delete(key)
        spool = self._spool_of(key)
        if spool.name not in self.live:
            await asyncio.to_thread(spool.unlink, missing_ok=True)

    async def older_than(self, cutoff: datetime) -> list[str]:
        return sorted(
            self.location_of(item.key)
            for item in await self.bucket.objects()
            if item.last_modified < cutoff and item.key.endswith(".wav")
        )

    async def upload_spooled(self, *, stale_seconds: float = STALE_SPOOL_SECONDS) -> list[str]:
        """Upload the spool files no live call is writing (left by a failed end of call or a
        crashed process); the locations now complete. One that fails again stays."""
        limit = time.time() - stale_seconds

        def pending() -> list[Path]:
            if not self.spool_dir.is_dir():
                return []
            return sorted(
                path
                for path in self.spool_dir.glob("*.wav")
                if path.name not in self.live and path.stat().st_mtime <= limit
            )

        done = []
        for spool in await asyncio.to_thread(pending):
            key = f"{self.config.prefix}{spool.name}"
            try:
                await SpooledUpload.upload_file(self.bucket, key, spool, waits=())
            except (UploadFailed, ProviderError) as exc:
                log.warning("spooled recording not uploaded yet", extra={"error": str(exc)})
                continue
            done.append(self.location_of(key))
        return done
