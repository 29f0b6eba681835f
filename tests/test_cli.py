"""The ``voxline`` command line, run as a user runs it (a real process per command)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from voxline.domain.api_keys import looks_like_key
from voxline.services import billing, keys
from voxline.storage.db import Database

VOXLINE = [sys.executable, "-m", "voxline"]


def run_cli(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*VOXLINE, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"voxline {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXLINE_")}
    env["VOXLINE_DATA_DIR"] = str(tmp_path / "data")
    env["VOXLINE_LOG_FORMAT"] = "console"
    run_cli(env, "db", "upgrade")
    return env


def _db(env: dict[str, str]) -> Database:
    return Database(f"sqlite+aiosqlite:///{Path(env['VOXLINE_DATA_DIR']).resolve()}/voxline.db")


async def test_orgs_keys_and_credits_commands(cli_env: dict[str, str]) -> None:
    org_id = run_cli(cli_env, "orgs", "create", "Acme").stdout.strip()
    created = run_cli(cli_env, "keys", "create", "--org", org_id)
    secret = created.stdout.strip()
    assert looks_like_key(secret)
    key_id = created.stderr.split("key id ")[1].split()[0]

    run_cli(cli_env, "credits", "set", org_id, "5")
    assert "15" in run_cli(cli_env, "credits", "add", org_id, "10.00").stdout

    db = _db(cli_env)
    try:
        assert (await keys.authenticate_key(db, secret)).org_id == org_id
        async with db.read() as conn:
            assert await billing.balance(conn, org_id) == Decimal("15")
        entries = await billing.ledger(db, org_id)
        assert [e.kind for e in entries] == ["grant", "set"]

        run_cli(cli_env, "keys", "revoke", key_id)
        with pytest.raises(Exception, match="Invalid or missing API key"):
            await keys.authenticate_key(db, secret)
    finally:
        await db.dispose()


def test_credits_reject_bad_amounts_and_unknown_orgs(cli_env: dict[str, str]) -> None:
    org_id = run_cli(cli_env, "orgs", "create", "Acme").stdout.strip()
    assert run_cli(cli_env, "credits", "set", org_id, "ten", check=False).returncode != 0
    negative = run_cli(cli_env, "credits", "set", "--", org_id, "-1", check=False)
    assert negative.returncode == 1
    assert "must not be negative" in negative.stderr
    unknown = run_cli(cli_env, "credits", "add", "nope", "1", check=False)
    assert unknown.returncode == 1
    assert "not found" in unknown.stderr


def test_keys_create_for_unknown_org_fails(cli_env: dict[str, str]) -> None:
    result = run_cli(cli_env, "keys", "create", "--org", "missing", check=False)
    assert result.returncode == 1
    assert "not found" in result.stderr


def test_concurrency_limit_is_set_per_organization(cli_env: dict[str, str]) -> None:
    org_id = run_cli(cli_env, "orgs", "create", "Acme").stdout.strip()
    assert "limit 3" in run_cli(cli_env, "orgs", "set-concurrency", org_id, "3").stdout
    assert run_cli(cli_env, "orgs", "set-concurrency", org_id, "0", check=False).returncode != 0


def test_bootstrap_json_is_idempotent(cli_env: dict[str, str]) -> None:
    first = json.loads(run_cli(cli_env, "bootstrap", "--json").stdout)
    second = json.loads(run_cli(cli_env, "bootstrap", "--json").stdout)
    assert set(first) == {"api_key", "org_id", "agent_id", "phone_number"}
    assert first == second
    assert looks_like_key(first["api_key"])


def test_the_worker_freezes_its_start_up_heap_and_stops_on_sigterm(
    cli_env: dict[str, str],
) -> None:
    env = {**cli_env, "VOXLINE_LOG_FORMAT": "json"}
    worker = subprocess.Popen(
        [*VOXLINE, "worker"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    # Should the worker never start, its stderr closes when it is killed and the loop ends.
    deadline = threading.Timer(60, worker.kill)
    deadline.start()
    try:
        assert worker.stderr is not None
        frozen = None
        for line in worker.stderr:
            record = json.loads(line)
            if record.get("event") == "start-up heap frozen":
                frozen = record["objects"]
            if record.get("event") == "engine started":
                break
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        deadline.cancel()
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    # Modules alone make tens of thousands of objects.
    assert isinstance(frozen, int) and frozen > 10_000


def test_recordings_prune_deletes_only_recordings_past_the_retention(
    cli_env: dict[str, str],
) -> None:
    recordings = Path(cli_env["VOXLINE_DATA_DIR"]) / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    old, recent = recordings / "old.wav", recordings / "recent.wav"
    for path in (old, recent):
        path.write_bytes(b"RIFF")
    long_ago = os.path.getmtime(recent) - 3 * 86400
    os.utime(old, (long_ago, long_ago))

    kept = run_cli(cli_env, "recordings", "prune")
    assert "deleted 0" in kept.stdout and "RETENTION_DAYS is unset" in kept.stderr
    assert old.exists()

    pruned = run_cli({**cli_env, "VOXLINE_RECORDINGS_RETENTION_DAYS": "2"}, "recordings", "prune")
    assert "deleted 1" in pruned.stdout
    assert not old.exists() and recent.exists()


def test_a_serving_process_keeps_blas_on_its_own_thread() -> None:
    # In a child process: the limit is process-wide. Its BLAS may start with one thread on a
    # one-core machine, so the child checks that it has more before, where it can.
    script = (
        "import os, numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "from voxline.cli import single_threaded_blas\n"
        "def threads():\n"
        "    return [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "before = threads()\n"
        "assert before, 'numpy has a BLAS'\n"
        "assert (os.cpu_count() or 1) < 2 or max(before) > 1, before\n"
        "single_threaded_blas()\n"
        "assert threads() == [1] * len(before), threads()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_freezing_the_start_up_heap_sets_the_serving_collection_thresholds() -> None:
    import gc

    from voxline.cli import GC_THRESHOLDS, freeze_startup_heap

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert gc.get_threshold() != GC_THRESHOLDS  # Python's default is not the policy
        assert freeze_startup_heap() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > 700
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
