"""Markdown tables of a benchmark run's results (as written by ``bench.run_all``)."""

from __future__ import annotations

import statistics
from typing import Any


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _x(value: float) -> str:
    return f"{value:.1f}x"


def api_summary(api: dict[str, Any]) -> list[str]:
    lines = [
        "| backend | calls | GET p50 (median case) | GET p99 (worst case) | driver p50 "
        "(median case) | page query ÷ driver | service ÷ driver | HTTP ÷ driver "
        "| plain COUNT(*) p50 "
        "| GET req/s, 8 conns (p99) | POST p50 / p99 | POST ÷ driver INSERT | POST req/s "
        "(p99) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, points in api.items():
        for size, p in points.items():
            cases = p["cases"]
            http_p50 = statistics.median(c["http"]["p50_ms"] for c in cases)
            http_p99 = max(c["http"]["p99_ms"] for c in cases)
            driver = statistics.median(c["driver"]["p50_ms"] for c in cases)
            http_factor = statistics.median(c["http_factor"] for c in cases)
            page_factor = statistics.median(c["query_factor"] for c in cases)
            service_factor = statistics.median(c["service_factor"] for c in cases)
            count = cases[0]["count"]["p50_ms"]
            get = p["get_throughput"]
            post = p["post"]
            post_load = p["post_throughput"]
            lines.append(
                f"| {backend} | {int(size):,} | {_ms(http_p50)} | {_ms(http_p99)} | "
                f"{_ms(driver)} | {_x(page_factor)} | {_x(service_factor)} | "
                f"{_x(http_factor)} | {_ms(count)} | "
                f"{get['rps']:.0f} ({_ms(get['p99_ms'])}) | "
                f"{_ms(post['p50_ms'])} / {_ms(post['p99_ms'])} | {_x(p['post_factor'])} | "
                f"{post_load['rps']:.0f} ({_ms(post_load['p99_ms'])}) |"
            )
    return lines


def api_cases(api: dict[str, Any]) -> list[str]:
    lines = [
        "| backend | calls | query | driver | plain COUNT(*) "
        "| Voxline page query | service p50 / p99 | HTTP p50 / p99 | page query ÷ driver "
        "| service ÷ driver | HTTP ÷ driver |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, points in api.items():
        for size, p in points.items():
            for c in p["cases"]:
                lines.append(
                    f"| {backend} | {int(size):,} | {c['name']} | {_ms(c['driver']['p50_ms'])} "
                    f"| {_ms(c['count']['p50_ms'])} | {_ms(c['query']['p50_ms'])} | "
                    f"{_ms(c['service']['p50_ms'])} / {_ms(c['service']['p99_ms'])} | "
                    f"{_ms(c['http']['p50_ms'])} / {_ms(c['http']['p99_ms'])} | "
                    f"{_x(c['query_factor'])} | {_x(c['service_factor'])} | "
                    f"{_x(c['http_factor'])} |"
                )
    return lines


def dispatch_tables(d: dict[str, Any]) -> list[str]:
    lines = [
        f"Backlog of {d['backlog']:,} queued calls, PostgreSQL.",
        "",
        "| dispatcher | calls placed / s | ÷ minimal dispatcher | worker CPU per call |",
        "|---|---:|---:|---:|",
        f"| minimal (asyncpg only, baseline) | {d['minimal']['calls_per_second']:.0f} | 1.0x | — |",
    ]
    for count in (1, 2):
        r = d[f"rate_{count}"]
        lines.append(
            f"| {count} x `voxline worker` | {r['calls_per_second']:.0f} | {_x(r['factor'])} "
            f"| {r['cpu_ms_per_call']:.1f} ms |"
        )
    lines += [
        "",
        "| deployment | POST → provider request p50 / p99 | POST response p50 (baseline) "
        "| ÷ baseline |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        0: "single node (`voxline serve`, dials during the request)",
        1: "API `--no-engine` + 1 worker (NOTIFY)",
        2: "API `--no-engine` + 2 workers (NOTIFY)",
    }
    for count, label in labels.items():
        r = d[f"latency_{count}"]
        lines.append(
            f"| {label} | {_ms(r['post_to_dial']['p50_ms'])} / {_ms(r['post_to_dial']['p99_ms'])}"
            f" | {_ms(r['post_response']['p50_ms'])} | {_x(r['factor'])} |"
        )
    return lines


def capacity_tables(c: dict[str, Any]) -> list[str]:
    lines = []
    for mode, result in c.items():
        lines += [
            f"**{mode} mode** — capacity: **{result['capacity']:,}** concurrent live calls "
            "with p99 frame lateness under 20 ms.",
            "",
            "| calls | live | lateness p50 / p99 | ÷ idle p99 | CPU (of one core) "
            "| CPU per call | RSS | memory per call | full GCs (longest) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in result["points"]:
            per_call_cpu = (
                f"{p['cpu_ms_per_call_second']:.2f} ms/s" if "cpu_ms_per_call_second" in p else "—"
            )
            per_call_mem = f"{p['mib_per_call'] * 1024:.0f} KiB" if "mib_per_call" in p else "—"
            gc = p.get("full_gc", {"count": 0, "max_ms": 0.0})
            lines.append(
                f"| {p['calls']:,} | {p['live_at_end']:,} | {_ms(p['lateness_p50_ms'])} / "
                f"{_ms(p['lateness_p99_ms'])} | {_x(p['lateness_factor'])} | "
                f"{p['cpu_share']:.0%} | {per_call_cpu} | {p['rss_mib']:.0f} MiB | "
                f"{per_call_mem} | {gc['count']} ({gc['max_ms']:.0f} ms) |"
            )
        lines.append("")
    return lines


def render(results: dict[str, Any]) -> str:
    lines = [f"# Benchmark run {results['started']} ({results['minutes']:.1f} min)", ""]
    if "api" in results:
        lines += ["## API", "", *api_summary(results["api"]), "", "### Every query", ""]
        lines += [*api_cases(results["api"]), ""]
    if "dispatch" in results:
        lines += ["## Dispatch", "", *dispatch_tables(results["dispatch"]), ""]
    if "capacity" in results:
        lines += ["## Capacity", "", *capacity_tables(results["capacity"])]
    return "\n".join(lines) + "\n"
