"""What every benchmark shares: timing statistics, scratch databases, server processes and a
small keep-alive HTTP client.

Every loop here is bounded in count and in time. Servers run as real processes on a free
loopback port and are stopped (SIGTERM, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_ADMIN_URL = os.environ.get(
    "VOXLINE_BENCH_POSTGRES_URL",
    os.environ.get(
        "VOXLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    ),
)
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    """Progress on stderr, so stdout stays free for results."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Latencies in milliseconds."""

    n: int
    p50: float
    p99: float
    mean: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        ordered = sorted(s * 1000 for s in seconds)
        if not ordered:
            return cls(0, float("nan"), float("nan"), float("nan"))
        return cls(
            n=len(ordered),
            p50=percentile(ordered, 50),
            p99=percentile(ordered, 99),
            mean=sum(ordered) / len(ordered),
        )

    def as_dict(self) -> dict[str, float]:
        return {"n": self.n, "p50_ms": self.p50, "p99_ms": self.p99, "mean_ms": self.mean}


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline else float("nan")


# --- databases -------------------------------------------------------------------------------


async def _admin(statement: str) -> None:
    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def postgres_database(label: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one benchmark; dropped afterwards."""
    name = f"voxline_bench_{label}_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg takes, from a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(False)


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def voxline_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a Voxline process under test (quiet, no rate limit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXLINE_")}
    env.update(
        VOXLINE_DATABASE_URL=database_url,
        VOXLINE_DATA_DIR=str(data_dir),
        VOXLINE_SECRET_KEY="bench-secret-key",
        VOXLINE_RATE_LIMIT_PER_MINUTE="0",
        VOXLINE_LOG_LEVEL="WARNING",
        VOXLINE_LOG_FORMAT="console",
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def process(args: Sequence[str], env: dict[str, str], *, log_file: Path) -> Iterator[int]:
    """A child process (``python <args>``); yields its pid and stops it on exit."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        yield child.pid
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)


@contextlib.asynccontextmanager
async def api_server(
    database_url: str, data_dir: Path, *, engine: bool = False, **extra_env: str
) -> AsyncIterator[tuple[str, int, int]]:
    """``python -m voxline serve`` on a free loopback port; yields (host, port, pid)."""
    port = free_port()
    args = ["-m", "voxline", "serve", "--port", str(port), "--no-migrate"]
    if not engine:
        args.append("--no-engine")
    env = voxline_env(database_url, data_dir, **extra_env)
    with process(args, env, log_file=data_dir / f"serve-{port}.log") as pid:
        await wait_healthy("127.0.0.1", port, pid)
        yield "127.0.0.1", port, pid


async def wait_healthy(host: str, port: int, pid: int, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ValueError):
            client = await HttpClient.connect(host, port)
            try:
                status, _ = await client.request("GET", "/healthz")
            finally:
                client.close()
            if status == 200:
                return
        if not alive(pid):
            raise RuntimeError("the server process exited; see its log in the data dir")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not become healthy")


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- HTTP ------------------------------------------------------------------------------------


class HttpClient:
    """One keep-alive HTTP/1.1 connection; just enough for the benchmarks and cheap on CPU,
    so the load generator takes as little as possible of the machine from the server."""

    def __init__(
        self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.host = host
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, host: str, port: int) -> HttpClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(host, reader, writer)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        limit_seconds: float = 30,
    ) -> tuple[int, bytes]:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        return await asyncio.wait_for(self._response(), limit_seconds)

    async def _response(self) -> tuple[int, bytes]:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        length = 0
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding":
                raise ValueError("chunked responses are not expected from the API")
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def timed_requests(
    client: HttpClient,
    requests: Sequence[tuple[str, str, Any]],
    headers: dict[str, str],
    *,
    expect: int,
    max_seconds: float,
) -> list[float]:
    """Issue ``requests`` one after another; their latencies in seconds (stops early at
    ``max_seconds``). A response with another status aborts the benchmark."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + max_seconds
    for method, path, body in requests:
        started = time.perf_counter()
        status, text = await client.request(method, path, headers=headers, body=body)
        latencies.append(time.perf_counter() - started)
        if status != expect:
            raise RuntimeError(f"{method} {path} answered {status}: {text[:300]!r}")
        if started > stop_at:
            break
    return latencies


async def throughput(
    host: str,
    port: int,
    requests: Sequence[tuple[str, str, Any]],
    headers: dict[str, str],
    *,
    expect: int,
    connections: int,
    seconds: float,
) -> tuple[float, Stats]:
    """``connections`` clients cycling through ``requests`` for ``seconds``; returns the
    completed requests per second and their latency statistics."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        client = await HttpClient.connect(host, port)
        try:
            index = offset
            while time.perf_counter() < deadline:
                method, path, body = requests[index % len(requests)]
                index += connections
                started = time.perf_counter()
                status, text = await client.request(method, path, headers=headers, body=body)
                latencies.append(time.perf_counter() - started)
                if status != expect:
                    raise RuntimeError(f"{method} {path} answered {status}: {text[:300]!r}")
        finally:
            client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, Stats.of(latencies)
