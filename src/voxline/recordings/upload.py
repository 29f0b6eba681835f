"""Streaming a call's recording to object storage while the call runs, in bounded memory.

The recorder writes the WAV to a *spool* file on local disk
(``<data_dir>/recordings-spool/<call_id>.wav``), exactly as a local recording. Beside it a
pump task uploads the spool as an S3 multipart upload, one part at a time:

* Part ``n`` (1-based) is bytes ``[(n-1)·P, n·P)`` of the file, ``P`` the part size
  (``VOXLINE_RECORDINGS_S3_PART_MIB``, at least S3's 5 MiB minimum; only the last part
  may be smaller). A part's body is a :class:`SpoolSlice`, a stream over the spool that the
  client reads in small chunks, and parts go up one at a time, so a call holds well under
  one part in memory however long it runs.
* **The WAV header needs the final length**, and it sits in part 1. Parts of a multipart
  upload may be uploaded in any order and are assembled by number, so parts 2, 3, … go up
  as soon as the recording has grown past them, and part 1 — whose header the recorder
  patches when it closes — goes up last, at the end of the call, with the short final
  part. No byte is uploaded twice and nothing is copied on the server (UploadPartCopy
  would need a second object).
* **A lost connection loses nothing**: the spool holds every byte. A part that fails is
  tried again at the next part boundary and at the end of the call; the end of the call
  tries the whole remainder a few times (``waits`` between attempts). If the store forgot
  the upload (``NoSuchUpload``: a lifecycle rule, a restarted store), the upload starts
  over from the spool. If every attempt fails, the multipart upload is aborted (the parts
  it holds would otherwise be billed forever) and the spool stays:
  :meth:`SpooledUpload.upload_file` sends it again later (the engine's recording upkeep).
  The spool is deleted only once the object is complete.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, cast

from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.recordings.bucket import S3Bucket
from voxline.voice.recorder import CHANNELS, HEADER_BYTES, CallRecorder

__all__ = ["FINISH_WAITS", "SpooledUpload", "UploadFailed", "repair_header"]

log = get_logger("recordings.upload")

# Seconds between the end-of-call attempts to complete an upload.
FINISH_WAITS: tuple[float, ...] = (1.0, 4.0)


class UploadFailed(Exception):
    """The object could not be completed; the spool file is kept for a later attempt."""


class SpooledUpload:
    """The multipart upload of one spool file to ``key`` (see the module docstring).

    :meth:`streaming` starts with a live :class:`CallRecorder`; :meth:`upload_file` sends a
    spool file left behind. Not thread-safe: use from one task (the call's own).
    """

    def __init__(
        self,
        bucket: S3Bucket,
        key: str,
        spool: Path,
        *,
        recorder: CallRecorder | None = None,
        waits: Sequence[float] = FINISH_WAITS,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.spool = spool
        self.recorder = recorder
        self.part_bytes = bucket.config.part_bytes
        self.waits = tuple(waits)
        self.upload_id: str | None = None
        self.etags: dict[int, str] = {}
        # The largest part sent (its body streams from the spool; it is never held whole).
        self.largest_part = 0
        # Rounds of the pump that failed (and were left to the next boundary or the end).
        self.failed_rounds = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    def streaming(
        cls,
        bucket: S3Bucket,
        key: str,
        recorder: CallRecorder,
        *,
        waits: Sequence[float] = FINISH_WAITS,
    ) -> SpooledUpload:
        """Upload ``recorder``'s file as it grows; call from a running event loop."""
        upload = cls(bucket, key, recorder.path, recorder=recorder, waits=waits)
        upload._pump = asyncio.get_running_loop().create_task(
            upload._run_pump(), name=f"voxline-recording-upload-{recorder.path.stem}"
        )
        return upload

    # -- while the call runs ----------------------------------------------------------

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None:
        """Record a chunk (to the spool, inline); wake the pump when a part is complete."""
        if self.recorder is None:
            raise RuntimeError("not a streaming upload")
        before = self.recorder.stored_bytes
        self.recorder.write(agent_pcm, contact_pcm)
        if self.recorder.stored_bytes // self.part_bytes > before // self.part_bytes:
            self._wake.set()

    async def _run_pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closing or self.recorder is None:
                return
            try:
                await self._upload_parts(self.recorder.stored_bytes, final=False)
            except ProviderError as exc:
                # The spool keeps the bytes; the next boundary or the end of the call retries.
                self.failed_rounds += 1
                log.warning(
                    "recording part upload failed; will retry",
                    extra={"key": self.key, "error": exc.message, "retryable": exc.retryable},
                )

    async def _upload_parts(self, size: int, *, final: bool) -> None:
        """Upload the parts not yet uploaded among those complete at ``size`` bytes; with
        ``final``, also the last (short) part and part 1 (whose header is now final)."""
        count = max(1, -(-size // self.part_bytes))
        for number in range(2, count + 1):
            full = number * self.part_bytes <= size
            if number not in self.etags and (full or final):
                await self._upload_part(number, size)
        if final and 1 not in self.etags:
            await self._upload_part(1, size)

    async def _upload_part(self, number: int, size: int) -> None:
        start = (number - 1) * self.part_bytes
        length = min(self.part_bytes, size - start)
        self.largest_part = max(self.largest_part, length)
        if self.upload_id is None:
            self.upload_id = await self.bucket.create_upload(self.key)
        with await asyncio.to_thread(SpoolSlice, self.spool, start, length) as body:
            # A binary stream, which typeshed's IO[bytes] does not name for RawIOBase.
            stream = cast("IO[bytes]", body)
            self.etags[number] = await self.bucket.upload_part(
                self.key, self.upload_id, number, stream
            )

    # -- at the end -------------------------------------------------------------------

    async def finish(self) -> str:
        """Close the recorder, upload what remains and complete the object; delete the spool.

        Raises :class:`UploadFailed` (after aborting the multipart upload) when the store
        stays unreachable or refuses; the spool is kept for :meth:`upload_file`."""
        await self._stop_pump()
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)
        size = await asyncio.to_thread(lambda: self.spool.stat().st_size)
        for attempt, wait in enumerate((*self.waits, None)):
            try:
                await self._upload_parts(size, final=True)
                assert self.upload_id is not None
                await self.bucket.complete_upload(self.key, self.upload_id, self.etags)
                break
            except ProviderError as exc:
                if exc.provider_code == "NoSuchUpload":
                    self.upload_id, self.etags = None, {}
                log.warning(
                    "recording upload attempt failed",
                    extra={"key": self.key, "attempt": attempt + 1, "error": exc.message},
                )
                if wait is None or not (exc.retryable or exc.provider_code == "NoSuchUpload"):
                    await self.abort()
                    raise UploadFailed(f"recording not uploaded: {exc.message}") from None
                await asyncio.sleep(wait)
        await asyncio.to_thread(self.spool.unlink, missing_ok=True)
        log.info("recording uploaded", extra={"key": self.key, "bytes": size})
        return self.key

    async def abort(self) -> None:
        """Abort the multipart upload (its parts are freed); best effort, never raises."""
        if self.upload_id is None:
            return
        upload_id, self.upload_id, self.etags = self.upload_id, None, {}
        try:
            await self.bucket.abort_upload(self.key, upload_id)
        except ProviderError as exc:
            log.warning(
                "multipart upload not aborted", extra={"key": self.key, "error": exc.message}
            )

    async def discard(self) -> None:
        """Drop the recording: abort the upload and delete the spool."""
        await self._stop_pump()
        if self.recorder is not None:
            await asyncio.to_thread(self.recorder.close)
        await self.abort()
        await asyncio.to_thread(self.spool.unlink, missing_ok=True)

    async def _stop_pump(self) -> None:
        self._closing = True
        self._wake.set()
        if self._pump is not None:
            try:
                await self._pump
            except Exception:
                # The end of the call sends every missing part from the spool again.
                log.exception("recording upload pump failed", extra={"key": self.key})

    @classmethod
    async def upload_file(
        cls, bucket: S3Bucket, key: str, spool: Path, *, waits: Sequence[float] = FINISH_WAITS
    ) -> str:
        """Upload a spool file left behind (a failed end of call, a crashed process) as a new
        object, after aborting the uploads of ``key`` still open; the header is repaired
        first (a crash leaves it counting only the first flush)."""
        for upload_id in await bucket.incomplete_uploads(key):
            await bucket.abort_upload(key, upload_id)
        await asyncio.to_thread(repair_header, spool)
        return await cls(bucket, key, spool, waits=waits).finish()


class SpoolSlice(io.RawIOBase):
    """Bytes ``[start, start + length)`` of a file as a seekable stream of their own: the
    body of one part, read from the spool in the client's small chunks (to hash it, then to
    send it) rather than held whole in memory."""

    def __init__(self, path: Path, start: int, length: int) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._start = start
        self._length = length
        self._position = 0

    def __len__(self) -> int:
        return self._length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(0, base + offset), self._length)
        return self._position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._length - self._position)
        if wanted <= 0:
            return 0
        self._file.seek(self._start + self._position)
        count = self._file.readinto(memoryview(buffer)[:wanted])
        self._position += count or 0
        return count or 0

    def close(self) -> None:
        self._file.close()
        super().close()


def repair_header(path: Path) -> None:
    """Make the RIFF and data sizes of a PCM WAV agree with its file size (a recorder that
    never closed left them at zero). A file too short to hold a header is left alone."""
    size = path.stat().st_size
    if size < HEADER_BYTES:
        return
    data = size - HEADER_BYTES
    data -= data % (CHANNELS * 2)
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, (HEADER_BYTES - 8 + data).to_bytes(4, "little"), 4)
        os.pwrite(fd, data.to_bytes(4, "little"), HEADER_BYTES - 4)
    finally:
        os.close(fd)
