"""Capacity: how many concurrent live calls one engine process holds while staying real-time,
and its CPU and memory per call.

Each level starts ``bench.capacity_host`` (a real Voxline engine with a frame-clock probe;
see there) on a fresh PostgreSQL database holding N queued sandbox calls to a callee who
keeps talking (``+1 415 555 0106``: the agent hears a long turn every ~12 s, answers it and
writes both turns to the transcript). Once all N calls are live, a 15 s window measures:

- frame lateness: how late a 20 ms clock wakes on the engine's event loop (text mode), and
  in audio mode each call's own media frames (codec, resampling, VAD, recorder);
- the process's CPU share over the window, its resident memory at the end, and the full
  garbage collections that ran in the window (they stop the event loop while they run).

The baseline, measured in the same run, is the same process with no call (level 0): per-call
CPU and memory are the increase over it divided by N, and lateness is also given as a ratio
to the idle process's. Levels rise until two in a row miss the bound (p99 frame lateness
under 20 ms, every call live); the capacity is the largest level that, like all below it,
met it. Text mode runs at real speed (``VOXLINE_SANDBOX_TIME_SCALE=1``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    alive,
    cpu_seconds,
    log,
    postgres_database,
    process,
    ratio,
    rss_mib,
    voxline_env,
)
from bench.dispatch import insert_backlog
from bench.seed import create_tenant
from voxline.config import Settings
from voxline.storage import migrate

TALKS_ON = "+14155550106"
WINDOW_SECONDS = 15.0
SETTLE_SECONDS = 2.0
REAL_TIME_P99_MS = 20.0
LEVELS = {
    "text": [0, 10, 250, 1000, 1500, 2000, 3000],
    "audio": [0, 10, 50, 100, 150, 200, 250, 300, 350],
}
HOST_ENV = {
    "VOXLINE_SANDBOX_MODE": "text",
    "VOXLINE_SANDBOX_TIME_SCALE": "1",
    "VOXLINE_ENGINE_POLL_SECONDS": "0.25",
    "VOXLINE_ENGINE_DRAIN_SECONDS": "0",
    "VOXLINE_ENGINE_LEASE_SECONDS": "120",
}


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data


async def level(
    mode: str,
    calls: int,
    workdir: Path,
    vad: str = "batched",
    media: str = "shared",
    gate: str = "on",
    phases: int = Settings.model_fields["media_phases"].default,
    stalls: bool = False,
    vad_thread: str = "on",
    block_ms: int = Settings.model_fields["media_block_ms"].default,
) -> dict[str, Any]:
    """One level: ``calls`` live calls in one host process; returns its figures."""
    data_dir = workdir / f"{mode}-{calls}"
    stats = data_dir / "stats.json"
    async with postgres_database(f"cap_{mode}_{calls}") as url:
        await migrate.upgrade_async(url)
        tenant = await create_tenant(url, "Capacity", phone_number="+14155551000")
        if calls:
            # Due shortly after the host is up, so every call is placed by it.
            due = datetime.now(UTC) + timedelta(seconds=3)
            await insert_backlog(url, tenant, calls, due, to_number=TALKS_ON)
        thread = {
            "VOXLINE_VAD_THREAD": "true" if vad_thread == "on" else "false",
            "VOXLINE_MEDIA_BLOCK_MS": str(block_ms),
            "VOXLINE_MEDIA_PHASES": str(phases),
        }
        env = voxline_env(url, data_dir, **HOST_ENV, **thread)
        args = ["-m", "bench.capacity_host", "--stats", str(stats), "--mode", mode]
        args += ["--vad", vad, "--media", media, "--gate", gate]
        args += ["--stalls"] if stalls else []
        with process(args, env, log_file=data_dir / "host.log") as pid:
            live = await _wait_live(stats.with_suffix(".live"), calls, pid)
            await asyncio.sleep(SETTLE_SECONDS)
            cpu_before, started = cpu_seconds(pid), time.perf_counter()
            os.kill(pid, signal.SIGUSR1)
            await asyncio.sleep(WINDOW_SECONDS)
            os.kill(pid, signal.SIGUSR2)
            cpu_share = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - started)
            memory = rss_mib(pid)
            figures = await _read_stats(stats)
            # The drain and the final bookkeeping are not measured: stop at once.
            os.kill(pid, signal.SIGKILL)
    extra = {"stalls": figures["stalls"]} if "stalls" in figures else {}
    return extra | {
        "calls": calls,
        "live_at_start": live,
        "live_at_end": figures["live"],
        "cpu_share": cpu_share,
        "rss_mib": memory,
        "probe": figures["probe"],
        "frames": figures["frames"],
        "full_gc": figures["full_gc"],
    }


async def _wait_live(path: Path, calls: int, pid: int) -> int:
    """Until ``calls`` calls are live (bounded: calls that never connect end the wait)."""
    deadline = time.perf_counter() + 20 + calls / 50
    best, best_at = 0, time.perf_counter()
    while time.perf_counter() < deadline:
        live = _read_int(path)
        # The file appears once the host runs (and handles SIGUSR1): level 0 waits for it.
        if live >= calls and path.exists():  # noqa: ASYNC240 - a stat, as _read_int reads
            return live
        if live > best:
            best, best_at = live, time.perf_counter()
        elif best and time.perf_counter() - best_at > 10:
            break  # stalled below the target
        if not alive(pid):
            raise RuntimeError("the capacity host exited; see host.log")
        await asyncio.sleep(0.25)
    return _read_int(path)


async def _read_stats(path: Path) -> dict[str, Any]:
    for _ in range(100):
        data = _read_json(path)
        if data is not None:
            return data
        await asyncio.sleep(0.05)
    raise RuntimeError("the capacity host wrote no statistics")


def _derive(point: dict[str, Any], idle: dict[str, Any], mode: str) -> None:
    n = point["calls"]
    lateness = point["frames"] if mode == "audio" and n else point["probe"]
    point["lateness_p99_ms"] = lateness.get("p99_ms", float("nan"))
    point["lateness_p50_ms"] = lateness.get("p50_ms", float("nan"))
    point["lateness_factor"] = ratio(point["lateness_p99_ms"], idle["probe"]["p99_ms"])
    point["real_time"] = (
        point["lateness_p99_ms"] < REAL_TIME_P99_MS and point["live_at_end"] >= n * 0.98
    )
    if n:
        point["cpu_ms_per_call_second"] = (point["cpu_share"] - idle["cpu_share"]) * 1000 / n
        point["mib_per_call"] = (point["rss_mib"] - idle["rss_mib"]) / n


def _capacity(points: list[dict[str, Any]]) -> int:
    """The largest level that, like every level below it, stayed real-time."""
    capacity = 0
    for point in points:
        if not point["real_time"]:
            break
        capacity = point["calls"]
    return capacity


async def run(
    modes: list[str],
    workdir: Path | None = None,
    *,
    vad: str = "batched",
    media: str = "shared",
    gate: str = "on",
    phases: int = Settings.model_fields["media_phases"].default,
    stalls: bool = False,
    levels: list[int] | None = None,
    vad_thread: str = "on",
    block_ms: int = Settings.model_fields["media_block_ms"].default,
) -> dict[str, Any]:
    """Each mode's levels (``levels``: these instead of :data:`LEVELS`; the first should be
    0, the baseline); ``vad``, ``media``, ``gate`` and ``stalls`` as
    ``bench.capacity_host --vad/--media/--gate/--stalls``; ``vad_thread`` "off" runs the
    batched VAD's model on the host's event loop thread (``VOXLINE_VAD_THREAD``);
    ``block_ms`` is the host's ``VOXLINE_MEDIA_BLOCK_MS`` (audio mode: 20 ms frames, or
    blocks of them, per wake-up) and ``phases`` its ``VOXLINE_MEDIA_PHASES`` (the media
    ticker's slots)."""
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="voxline-bench-capacity-")) if workdir is None else workdir
    results: dict[str, Any] = {}
    try:
        for mode in modes:
            points: list[dict[str, Any]] = []
            idle: dict[str, Any] = {}
            for calls in levels or LEVELS[mode]:
                point = await level(
                    mode, calls, base, vad, media, gate, phases, stalls, vad_thread, block_ms
                )
                idle = idle or point
                _derive(point, idle, mode)
                points.append(point)
                log(
                    f"capacity {mode}: {calls} calls, live {point['live_at_end']}, p99 "
                    f"{point['lateness_p99_ms']:.1f} ms, CPU {point['cpu_share']:.0%}, "
                    f"RSS {point['rss_mib']:.0f} MiB"
                )
                shutil.rmtree(base / f"{mode}-{calls}" / "recordings", ignore_errors=True)
                failures = [p for p in points[-2:] if p["calls"] and not p["real_time"]]
                if len(failures) == 2:
                    break
            results[mode] = {"points": points, "capacity": _capacity(points)}
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="text,audio")
    parser.add_argument("--vad", choices=["batched", "per-call"], default="batched")
    parser.add_argument("--media", choices=["shared", "per-call"], default="shared")
    parser.add_argument("--gate", choices=["on", "off"], default="on")
    parser.add_argument(
        "--phases",
        type=int,
        default=Settings.model_fields["media_phases"].default,
        help="the host's VOXLINE_MEDIA_PHASES (default: the setting's)",
    )
    parser.add_argument("--stalls", action="store_true", help="sample the host's stalls")
    parser.add_argument(
        "--vad-thread", choices=["on", "off"], default="on", help="the VAD model's own thread"
    )
    parser.add_argument("--levels", help="comma-separated call counts, 0 first (the baseline)")
    parser.add_argument(
        "--block-ms",
        type=int,
        default=Settings.model_fields["media_block_ms"].default,
        help="the host's VOXLINE_MEDIA_BLOCK_MS (audio; default: the setting's)",
    )
    args = parser.parse_args()
    levels = [int(n) for n in args.levels.split(",")] if args.levels else None
    result = asyncio.run(
        run(
            args.modes.split(","),
            vad=args.vad,
            media=args.media,
            gate=args.gate,
            phases=args.phases,
            stalls=args.stalls,
            levels=levels,
            vad_thread=args.vad_thread,
            block_ms=args.block_ms,
        )
    )
    print(json.dumps(result, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
