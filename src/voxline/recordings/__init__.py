"""Where call recordings are kept: local disk (the default) or S3-compatible object storage.

:func:`stores_for` builds the :class:`RecordingStores` of a deployment's settings; the same
settings give the same stores (one boto3 client per process and bucket, built once).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from voxline.config import Settings
from voxline.recordings.bucket import S3Config
from voxline.recordings.local import LocalRecordings
from voxline.recordings.s3 import S3Recordings
from voxline.recordings.store import RecordingStore, RecordingStores, RecordingWriter

__all__ = [
    "LocalRecordings",
    "RecordingStore",
    "RecordingStores",
    "RecordingWriter",
    "S3Config",
    "S3Recordings",
    "s3_config",
    "stores_for",
]


def s3_config(settings: Settings) -> S3Config | None:
    """The object store of ``settings``; ``None`` when recordings stay on local disk."""
    if not settings.recordings_url:
        return None
    secret = settings.recordings_s3_secret_access_key
    return S3Config.from_url(
        settings.recordings_url,
        region=settings.recordings_s3_region,
        endpoint_url=settings.recordings_s3_endpoint_url,
        access_key_id=settings.recordings_s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        part_bytes=settings.recordings_s3_part_mib * 1024 * 1024,
        download_ttl_seconds=settings.recordings_s3_download_ttl_seconds,
    )


def stores_for(settings: Settings) -> RecordingStores:
    """The recording stores of ``settings``."""
    return _stores(
        settings.recordings_dir.resolve(),
        settings.recordings_spool_dir.resolve(),
        s3_config(settings),
    )


@lru_cache(maxsize=16)
def _stores(root: Path, spool: Path, config: S3Config | None) -> RecordingStores:
    local = LocalRecordings(root)
    if config is None:
        return RecordingStores(current=local, all=(local,))
    s3 = S3Recordings(config, spool)
    return RecordingStores(current=s3, all=(s3, local))
