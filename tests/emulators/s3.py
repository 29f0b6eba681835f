"""A real S3 implementation on loopback: moto's server, for the recording store's tests.

:class:`S3Server` runs moto's S3 in this process (``ThreadedMotoServer``) on a free port.
:meth:`S3Server.stop` and :meth:`S3Server.start` cut and restore it on the same port while
its state (buckets, open multipart uploads) survives, as a store behind a lost connection
does. :class:`S3Process` runs it in a child process instead, so that what the test process
allocates is the client's alone (the memory bound's test).

Moto checks what S3 checks of multipart uploads (5 MiB minimum part size but for the last,
part numbers and ETags on completion, NoSuchUpload after an abort). It does not check
presigned query signatures or their expiry; :func:`verify_presigned` does, with its own
SigV4 implementation (standard library only).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from voxline.recordings.bucket import S3Config

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key-never-logged"
REGION = "eu-west-1"
PART = 5 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(url: str, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


class S3Server:
    """moto's S3 on ``127.0.0.1:<port>`` in this process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None
        self._client: object | None = None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        _wait_up(self.url)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self) -> object:
        if self._client is None:
            self._client = boto3.client(
                "s3",
                endpoint_url=self.url,
                region_name=REGION,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
            )
        return self._client

    def new_bucket(self) -> str:
        name = f"rec-{uuid.uuid4().hex[:12]}"
        client = self.client()
        client.create_bucket(  # type: ignore[attr-defined]
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        return name

    def config(self, bucket: str, *, prefix: str = "calls/", part: int = PART) -> S3Config:
        return S3Config(
            bucket=bucket,
            prefix=prefix,
            region=REGION,
            endpoint_url=self.url,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            part_bytes=part,
            download_ttl_seconds=120,
            max_attempts=1,
        )


class S3Process(S3Server):
    """moto's S3 in a child process (its allocations are not this process's)."""

    def __init__(self) -> None:
        super().__init__()
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_up(self.url)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(5)
            self._process.kill()
            self._process = None


def verify_presigned(url: str, secret: str, *, now: dt.datetime | None = None) -> bool:
    """Whether a presigned GET URL carries a valid SigV4 query signature made with ``secret``
    and has not expired at ``now`` (path-style URL, unsigned payload, as S3 presigns)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        return False
    signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    expires = int(params["X-Amz-Expires"])
    if (now or dt.datetime.now(dt.UTC)) > signed_at + dt.timedelta(seconds=expires):
        return False
    _, day, region, service, _ = params["X-Amz-Credential"].split("/")
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(query)
        if k != "X-Amz-Signature"
    )
    headers = params["X-Amz-SignedHeaders"].split(";")
    if headers != ["host"]:
        return False
    canonical = "\n".join(
        [
            "GET",
            quote(parts.path, safe="/-_.~%"),
            canonical_query,
            f"host:{parts.netloc}\n",
            "host",
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, params.get("X-Amz-Signature", ""))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 for the session (import this fixture and :func:`s3` where needed)."""
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server) -> Iterator[S3Server]:
    """The server, started again after the test if the test stopped it."""
    yield s3_server
    if s3_server._server is None:
        s3_server.start()
