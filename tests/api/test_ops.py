"""The operator's endpoints: /healthz, /readyz and /metrics (its token, its database gauges,
the HTTP durations)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.conftest import API
from tests.factories import Tenant, app_for, insert_call
from voxline.config import Settings, load_settings
from voxline.engine.runner import LOOPS, Engine
from voxline.runtime import Runtime
from voxline.services import webhooks
from voxline.storage.db import Database
from voxline.storage.tables import webhook_deliveries
from voxline.storage.types import utcnow

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, keyed by name and labels (the parser rejects bad text)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (sample, labels) in samples if sample == name]


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@pytest.fixture
async def ops(settings: Settings, db: Database) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = app_for(settings, db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield app, http


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


# /healthz


async def test_healthz_answers_ok_without_a_key(ops: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, http = ops
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    # Only GET: it is a probe, not a resource.
    assert (await http.post("/healthz")).status_code == 405


# /metrics


async def test_metrics_parse_and_stay_out_of_the_openapi_document(
    ops: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, http = ops
    await http.get("/healthz")
    samples = await scrape(http)
    names = {name for name, _ in samples}
    for expected in (
        "voxline_live_calls",
        "voxline_webhook_deliveries_pending",
        "voxline_webhook_deliveries_due",
        "voxline_http_request_duration_seconds_count",
    ):
        assert expected in names, expected
    document = (await http.get(f"{API}/openapi.json")).json()
    assert not {"/metrics", "/healthz", "/readyz"} & set(document["paths"])
    # Outside the public API's prefix: it is not a resource of the API.
    assert (await http.get(f"{API}/metrics")).status_code == 404


async def test_live_calls_are_counted_by_status_and_provider_at_scrape_time(
    ops: tuple[FastAPI, httpx.AsyncClient], db: Database, tenant: Tenant
) -> None:
    _, http = ops
    before = await scrape(http)
    # Every active status is present at zero for the providers of this process.
    assert value(before, "voxline_live_calls", status="ringing", provider="twilio") == 0
    org = tenant.org_id
    call_id = await insert_call(db, org, None, status="in_progress", provider_type="plivo")
    await insert_call(db, org, None, status="completed", provider_type="plivo")

    during = await scrape(http)
    assert value(during, "voxline_live_calls", status="in_progress", provider="plivo") == 1
    assert value(during, "voxline_live_calls", status="queued", provider="plivo") == 0
    assert {labels["status"] for labels in series(during, "voxline_live_calls")} == {
        "queued",
        "ringing",
        "in_progress",
    }

    async with db.write() as conn:
        await conn.execute(
            sa.text("UPDATE calls SET status = 'completed' WHERE id = :id"), {"id": call_id}
        )
    after = await scrape(http)
    assert value(after, "voxline_live_calls", status="in_progress", provider="plivo") == 0


async def test_the_webhook_outbox_depth_counts_pending_and_due_deliveries(
    ops: tuple[FastAPI, httpx.AsyncClient], db: Database, settings: Settings, tenant: Tenant
) -> None:
    _, http = ops
    empty = await scrape(http)
    assert value(empty, "voxline_webhook_deliveries_pending") == 0
    endpoint, _ = await webhooks.create_endpoint(
        db, settings, tenant.org_id, url="https://8.8.8.8/hook", event_types=["call.ended"]
    )
    for _ in range(3):
        await webhooks.send_test(db, tenant.org_id, endpoint.id)
    async with db.write() as conn:
        ids = (await conn.execute(sa.select(webhook_deliveries.c.id))).scalars().all()
        # One waits for a retry in an hour; one was delivered.
        await conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id == ids[0])
            .values(next_attempt_at=utcnow() + timedelta(hours=1))
        )
        await conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.id == ids[1])
            .values(status="delivered", next_attempt_at=None)
        )
    samples = await scrape(http)
    assert value(samples, "voxline_webhook_deliveries_pending") == 2
    assert value(samples, "voxline_webhook_deliveries_due") == 1


async def test_http_durations_are_labelled_by_route_template_never_by_id(
    ops: tuple[FastAPI, httpx.AsyncClient], tenant: Tenant
) -> None:
    _, http = ops
    call_id = "5f0c0a1e-0000-4000-8000-00000000abcd"
    missing = await http.get(f"{API}/calls/{call_id}", headers=tenant.headers)
    assert missing.status_code == 404
    assert (await http.get(f"{API}/calls", headers=tenant.headers)).status_code == 200
    assert (await http.get(f"/no/such/{call_id}")).status_code == 404

    samples = await scrape(http)
    name = "voxline_http_request_duration_seconds_count"
    by_template = {"method": "GET", "route": f"{API}/calls/{{call_id}}", "status": "4xx"}
    assert value(samples, name, **by_template) == 1
    assert value(samples, name, method="GET", route=f"{API}/calls", status="2xx") == 1
    assert value(samples, name, method="GET", route="unmatched", status="4xx") == 1
    for labels in series(samples, name):
        assert call_id not in labels["route"], labels
    assert not any(call_id in str(key) for key in samples)


async def test_a_metrics_token_is_required_once_configured(
    settings: Settings, db: Database
) -> None:
    token = SecretStr("s3cret-scrape")
    app = app_for(settings.model_copy(update={"metrics_token": token}), db=db)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        assert (await http.get("/metrics")).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer s3cret-scrapf"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "unauthorized"
        assert "s3cret" not in wrong.text
        right = await http.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
        assert right.status_code == 200
        parse(right.text)
        # The probes stay open: the orchestrator has no token.
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200


async def test_apps_in_one_process_keep_separate_registries(
    settings: Settings, db: Database, ops: tuple[FastAPI, httpx.AsyncClient]
) -> None:
    _, http = ops
    other = app_for(settings, db=db)
    assert runtime_of(other).metrics.registry is not runtime_of(ops[0]).metrics.registry
    await http.get("/healthz")
    transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as fresh:
        samples = parse((await fresh.get("/metrics")).text)
    assert (
        value(
            samples,
            "voxline_http_request_duration_seconds_count",
            method="GET",
            route="/healthz",
            status="2xx",
        )
        is None
    )


# /readyz


async def test_ready_while_the_database_answers_and_not_while_draining(
    ops: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, http = ops
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "draining": "ok"}}

    runtime_of(app).begin_draining()
    draining = await http.get("/readyz")
    assert draining.status_code == 503
    assert draining.json()["checks"] == {"database": "ok", "draining": "shutting down"}
    # Alive all the same: a draining process is not restarted.
    assert (await http.get("/healthz")).status_code == 200


async def test_shutdown_begins_by_draining(settings: Settings, db: Database) -> None:
    app = app_for(settings, db=db)
    runtime = runtime_of(app)
    async with runtime.running():
        assert (await runtime.readiness()).ready
    assert runtime.draining
    assert not (await runtime.readiness()).ready


@pytest.fixture
def refusing_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a hung database)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


async def _readyz_over(tmp_path: Path, url: str) -> httpx.Response:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=url,
        secret_key="test-secret-key",
        log_format="console",
        readiness_timeout_seconds=0.3,
    )
    app = app_for(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
            assert (await http.get("/healthz")).status_code == 200
            return await http.get("/readyz")
    finally:
        await runtime_of(app).db.dispose()


async def test_not_ready_when_the_database_refuses_connections(
    tmp_path: Path, refusing_port: int
) -> None:
    response = await _readyz_over(
        tmp_path, f"postgresql+asyncpg://postgres@127.0.0.1:{refusing_port}/voxline"
    )
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"].startswith("unreachable")
    assert "127.0.0.1" not in checks["database"]
    assert checks["draining"] == "ok"


async def test_not_ready_when_the_database_does_not_answer_in_time(
    tmp_path: Path, silent_port: int
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await _readyz_over(
        tmp_path, f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/voxline"
    )
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "timed out"
    assert loop.time() - started < 3


async def test_metrics_still_answer_without_the_database(
    tmp_path: Path, refusing_port: int
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{refusing_port}/voxline",
        secret_key="test-secret-key",
        log_format="console",
        readiness_timeout_seconds=0.3,
    )
    app = app_for(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        samples = await scrape(http)
    await runtime_of(app).db.dispose()
    names = {name for name, _ in samples}
    assert "voxline_live_calls" not in names
    assert value(samples, "voxline_metrics_database_errors_total") == 1


# /readyz with an engine in the process


@pytest.fixture
async def engine_app(
    settings: Settings, db: Database
) -> AsyncIterator[tuple[Engine, httpx.AsyncClient]]:
    fast = settings.model_copy(update={"engine_poll_seconds": 0.1, "engine_drain_seconds": 0})
    engine = Engine(db, fast)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    app = app_for(fast, db=db, engine=engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield engine, http
    stop.set()
    await asyncio.wait_for(task, 30)


async def _until_loops_run(engine: Engine) -> None:
    async with asyncio.timeout(5):
        while engine.stopped_loops():  # noqa: ASYNC110 - the loops start on the next turns
            await asyncio.sleep(0.01)


async def test_ready_while_the_engine_loops_run_and_not_once_one_died(
    engine_app: tuple[Engine, httpx.AsyncClient],
) -> None:
    engine, http = engine_app
    await _until_loops_run(engine)
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["engine"] == "ok"

    dispatcher = engine.loop_tasks["dispatcher"]
    dispatcher.cancel()
    with pytest.raises(asyncio.CancelledError):
        await dispatcher
    dead = await http.get("/readyz")
    assert dead.status_code == 503
    assert dead.json()["checks"]["engine"] == "stopped: dispatcher"


async def test_not_ready_before_the_engine_runs(settings: Settings, db: Database) -> None:
    engine = Engine(db, settings)
    app = app_for(settings, db=db, engine=engine)
    readiness = await runtime_of(app).readiness()
    assert not readiness.ready
    assert readiness.checks["engine"] == "stopped: " + ", ".join(engine.loop_names)
    assert set(engine.loop_names) <= set(LOOPS)
