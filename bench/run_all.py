"""Run every benchmark (``make bench``): API latency, dispatch, capacity.

Writes ``bench/results/latest.json`` (every figure) and ``bench/results/latest.md`` (the
tables), and prints the tables. Scratch files live in a temporary directory and the
PostgreSQL benchmark databases are dropped, whatever happens. About 10 minutes on a
2-core machine; ``--quick`` (10k and 100k rows, fewer levels) takes about 5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import api_latency, capacity, dispatch
from bench.common import ROOT, log
from bench.report import render

RESULTS = ROOT / "bench" / "results"


async def run_all(parts: list[str], quick: bool, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if "api" in parts:
        sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]
        results["api"] = await api_latency.run(sizes, ["sqlite", "postgres"], workdir / "api")
    if "dispatch" in parts:
        results["dispatch"] = await dispatch.run(workdir / "dispatch")
    if "capacity" in parts:
        if quick:
            capacity.LEVELS = {mode: levels[:4] for mode, levels in capacity.LEVELS.items()}
        results["capacity"] = await capacity.run(["text", "audio"], workdir / "capacity")
    results["minutes"] = (time.perf_counter() - started) / 60
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data sets and levels")
    parser.add_argument("--only", default="api,dispatch,capacity", help="comma-separated parts")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results are written")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="voxline-bench-"))
    try:
        results = asyncio.run(run_all(args.only.split(","), args.quick, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    report = render(results)
    (args.out / "latest.md").write_text(report)
    print(report)
    log(f"done in {results['minutes']:.1f} min; results in {args.out}")


if __name__ == "__main__":
    main()
