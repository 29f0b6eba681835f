"""One bucket of an S3-compatible object store, as the recording store needs it.

Calls go through boto3 (see pyproject.toml for why) on worker threads
(:func:`asyncio.to_thread`), never on the event loop: a boto3 client is thread-safe, and
its first call loads the service model, which takes a noticeable fraction of a second.

Every failure comes out as one :class:`~voxline.errors.ProviderError` (provider ``"s3"``)
with a ``retryable`` bit and the store's error code, raised ``from None``: botocore's
exceptions can quote request headers, and this adapter holds the secret key.
Checksums are computed only where a request requires them: several S3-compatible stores
reject the CRC headers that newer botocore adds by default.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, TypeVar

from voxline.errors import ProviderError

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

__all__ = ["PROVIDER", "S3Bucket", "S3Config", "StoredObject"]

PROVIDER = "s3"
T = TypeVar("T")
# Error codes of a store that mean "this will not work however often it is retried".
_PERMANENT = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "NoSuchBucket",
        "NoSuchUpload",
        "NoSuchKey",
        "InvalidPart",
        "InvalidPartOrder",
        "EntityTooSmall",
        "InvalidBucketName",
        "404",
        "403",
    }
)


@dataclass(frozen=True, slots=True)
class S3Config:
    """Where recordings go: ``bucket`` and key ``prefix`` ("" or ending in "/")."""

    bucket: str
    prefix: str
    region: str
    endpoint_url: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    part_bytes: int = 8 * 1024 * 1024
    download_ttl_seconds: int = 300
    # Tries of one request by botocore itself (connection errors, 5xx, throttling).
    max_attempts: int = 3

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Config:
        """``s3://bucket/some/prefix`` → bucket ``bucket``, prefix ``some/prefix/``."""
        if not url.startswith("s3://"):
            raise ValueError("an object store URL starts with s3://")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError("the object store URL names no bucket")
        prefix = prefix.strip("/")
        return cls(bucket=bucket, prefix=f"{prefix}/" if prefix else "", **options)


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    last_modified: datetime


class S3Bucket:
    """The operations of one bucket, each awaited on a worker thread."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._client: S3Client | None = None
        # A thread lock, not an asyncio one: the client is made on a worker thread, and a
        # bucket may outlive one event loop (the CLI's asyncio.run, tests).
        self._lock = threading.Lock()

    async def _call(self, operation: Callable[[S3Client], T]) -> T:
        def run() -> T:
            try:
                return operation(self._get_client())
            except ProviderError:
                raise
            except Exception as exc:
                raise _provider_error(exc) from None

        return await asyncio.to_thread(run)

    def _get_client(self) -> S3Client:
        with self._lock:
            if self._client is None:
                with _SESSION_LOCK:
                    self._client = self._new_client()
            return self._client

    def _new_client(self) -> S3Client:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ProviderError(
                "recordings in object storage need boto3: pip install 'voxline[s3]'",
                provider=PROVIDER,
                retryable=False,
            ) from None

        config = Config(
            signature_version="s3v4",
            connect_timeout=5,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": self.config.max_attempts},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Self-hosted stores (MinIO, Garage, Ceph) address buckets by path.
            s3={"addressing_style": "path" if self.config.endpoint_url else "auto"},
        )
        client: S3Client = _session(boto3).client(
            "s3",
            region_name=self.config.region,
            endpoint_url=self.config.endpoint_url,
            aws_access_key_id=self.config.access_key_id,
            aws_secret_access_key=self.config.secret_access_key,
            config=config,
        )
        return client

    # -- multipart upload -------------------------------------------------------------

    async def create_upload(self, key: str) -> str:
        """Start a multipart upload of ``key``; its upload id."""
        bucket = self.config.bucket
        answer = await self._call(
            lambda c: c.create_multipart_upload(Bucket=bucket, Key=key, ContentType="audio/wav")
        )
        return answer["UploadId"]

    async def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes | IO[bytes]
    ) -> str:
        """Upload part ``number`` (1-based) from ``body`` (bytes, or a seekable stream of
        known length); its ETag."""
        bucket = self.config.bucket
        answer = await self._call(
            lambda c: c.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
        )
        return answer["ETag"]

    async def complete_upload(self, key: str, upload_id: str, etags: Mapping[int, str]) -> None:
        bucket = self.config.bucket
        parts: Any = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
        await self._call(
            lambda c: c.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        )

    async def abort_upload(self, key: str, upload_id: str) -> None:
        bucket = self.config.bucket
        await self._call(
            lambda c: c.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        )

    async def incomplete_uploads(self, key: str) -> list[str]:
        """The ids of the multipart uploads of ``key`` still open."""
        bucket = self.config.bucket
        answer = await self._call(lambda c: c.list_multipart_uploads(Bucket=bucket, Prefix=key))
        return [u["UploadId"] for u in answer.get("Uploads", []) if u.get("Key") == key]

    # -- objects ----------------------------------------------------------------------

    async def presign_get(self, key: str, filename: str) -> str:
        """A GET URL of ``key`` signed for :attr:`S3Config.download_ttl_seconds`."""
        bucket, ttl = self.config.bucket, self.config.download_ttl_seconds
        return await self._call(
            lambda c: c.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": bucket,
                    "Key": key,
                    "ResponseContentType": "audio/wav",
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=ttl,
            )
        )

    async def exists(self, key: str) -> bool:
        bucket = self.config.bucket
        try:
            await self._call(lambda c: c.head_object(Bucket=bucket, Key=key))
        except ProviderError as exc:
            if exc.http_status == 404:
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        """Delete ``key``; deleting a missing key succeeds (as S3 does)."""
        bucket = self.config.bucket
        await self._call(lambda c: c.delete_object(Bucket=bucket, Key=key))

    async def objects(self) -> list[StoredObject]:
        """Every object under the prefix (paged through)."""
        bucket, prefix = self.config.bucket, self.config.prefix

        def list_all(client: S3Client) -> list[StoredObject]:
            found: list[StoredObject] = []
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                found += [
                    StoredObject(item["Key"], item["LastModified"])
                    for item in page.get("Contents", [])
                ]
            return found

        return await self._call(list_all)


_SESSION_LOCK = threading.Lock()
_SESSIONS: list[Any] = []


def _session(boto3: Any) -> Any:
    """One boto3 session for the process: it caches the parsed service model, which a new
    session would load again (a noticeable fraction of a second) for each bucket. Its
    clients are thread-safe; making one is not: called under ``_SESSION_LOCK``."""
    if not _SESSIONS:
        _SESSIONS.append(boto3.session.Session())
    return _SESSIONS[0]


def _provider_error(exc: Exception) -> ProviderError:
    """A store's failure as the one vendor error; nothing of the request is quoted."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return ProviderError(
            f"object store refused the request ({code})",
            provider=PROVIDER,
            retryable=code not in _PERMANENT
            and (status is None or status >= 500 or status in (408, 429)),
            provider_code=code,
            http_status=status,
        )
    if isinstance(exc, BotoCoreError):
        # Connection refused or reset, timeouts, a read cut short: worth another try.
        return ProviderError(
            f"object store unreachable ({type(exc).__name__})", provider=PROVIDER, retryable=True
        )
    return ProviderError(
        f"object store call failed ({type(exc).__name__})", provider=PROVIDER, retryable=False
    )
