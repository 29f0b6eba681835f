"""What Voxline leaves on disk and in its logs: the access log names paths, never their
query strings (recording signatures, API keys), and the database, the secret key and the
recordings are readable by the service's user only."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
import sys
import uuid
from pathlib import Path

import httpx
import websockets

import voxline
from voxline.config import load_settings
from voxline.logging import PathWithoutQuery
from voxline.storage import migrate
from voxline.storage.db import Database
from voxline.voice.recorder import CallRecorder

SRC = Path(voxline.__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _existing(path: Path, *, directory_mode: int, mode: int) -> Path:
    path.parent.chmod(directory_mode)
    path.touch()
    path.chmod(mode)
    return path


async def test_voxline_serve_logs_paths_without_their_queries(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("VOXLINE_")},
        "PYTHONPATH": str(SRC),
        "VOXLINE_DATA_DIR": str(tmp_path / "data"),
        "VOXLINE_LOG_FORMAT": "console",
    }
    server = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "voxline", "serve", "--port", str(port), "--no-engine"],
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    secrets = ["RECORDINGSIGNATURE", "APIKEYINQUERY", "MEDIATOKEN"]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            for _ in range(600):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            recording = f"/recordings/{uuid.uuid4()}.wav?expires=9999999999&signature={secrets[0]}"
            assert (await http.get(recording)).status_code == 403
            calls = await http.get(f"/api/public/v1/calls?api_key={secrets[1]}")
            assert calls.status_code == 401
        ws_url = f"ws://127.0.0.1:{port}/media/twilio?token={secrets[2]}"
        async with websockets.connect(ws_url) as ws:
            await ws.close()
    finally:
        server.terminate()
        output, _ = await asyncio.wait_for(server.communicate(), 60)
    text = output.decode(errors="replace")
    assert "/recordings/" in text and "/api/public/v1/calls" in text and "/healthz" in text
    for secret in secrets:
        assert secret not in text


def test_the_access_filter_keeps_everything_but_the_query() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/recordings/a.wav?signature=s", "1.1", 403),
        None,
    )
    assert PathWithoutQuery().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /recordings/a.wav HTTP/1.1" 403'


async def test_a_new_sqlite_database_and_its_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "voxline.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate.upgrade_async(url)
    database = Database(url)
    try:
        async with database.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
    finally:
        await database.dispose()
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600
    for sibling in path.parent.iterdir():
        assert _mode(sibling) & 0o077 == 0, sibling


async def test_an_existing_database_file_keeps_the_mode_its_operator_chose(tmp_path: Path) -> None:
    path = _existing(tmp_path / "voxline.db", directory_mode=0o750, mode=0o640)
    database = Database(f"sqlite+aiosqlite:///{path}")
    await database.dispose()
    assert _mode(path) == 0o640
    assert _mode(tmp_path) == 0o750  # a directory that existed is not changed either


def test_the_secret_key_and_data_dir_are_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data", secret_key=None)
    settings.resolved_secret_key()
    assert _mode(tmp_path / "data") == 0o700
    assert _mode(tmp_path / "data" / "secret.key") == 0o600


def test_recordings_and_their_directory_are_private(tmp_path: Path) -> None:
    recordings = tmp_path / "data" / "recordings"
    with CallRecorder(recordings, str(uuid.uuid4())) as recorder:
        recorder.write(b"\x01\x00" * 160, b"\x02\x00" * 160)
    assert _mode(recordings) == 0o700
    assert _mode(recorder.path) == 0o600
    assert recorder.path.stat().st_size > 44  # a real WAV file was written through the mode
