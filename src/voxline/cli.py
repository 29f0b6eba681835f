"""The ``voxline`` command line: serve, migrate, and manage organizations, keys and credits
on this deployment's database; ``calls`` and ``agents`` (:mod:`voxline.cli_client`) talk to a
deployment through its public API instead."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Annotated, TypeVar

import typer
from rich.console import Console

from voxline.cli_client import agents_app, calls_app, sandbox_app
from voxline.config import Settings, load_settings
from voxline.errors import VoxlineError
from voxline.logging import configure_logging, get_logger, uvicorn_log_config
from voxline.storage import migrate
from voxline.storage.db import Database

app = typer.Typer(help="Voxline: phone calls handled by AI voice agents.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
orgs_app = typer.Typer(help="Organizations.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
credits_app = typer.Typer(help="Credit balances.", no_args_is_help=True)
recordings_app = typer.Typer(help="Call recordings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(keys_app, name="keys")
app.add_typer(credits_app, name="credits")
app.add_typer(recordings_app, name="recordings")
app.add_typer(calls_app, name="calls")
app.add_typer(agents_app, name="agents")
app.add_typer(sandbox_app, name="sandbox")

out = Console()
err = Console(stderr=True)
T = TypeVar("T")


log = get_logger("cli")


def _settings() -> Settings:
    return load_settings()


# The collector's thresholds once serving (gc.set_threshold): a young collection once this
# many more container objects are alive than at the last one, then Python's defaults for
# the older generations. Python's 700 is crossed within every 20 ms tick by the work in
# flight of a few hundred live audio calls (coroutines, futures, handles, which reference
# counting frees a moment later): at 300 calls ~86 young collections a second promoted it
# to the older generations, 2-4% of the event loop's CPU in all (bench/README.md, "sixth").
# Cyclic garbage waits longer for a collection: at most this many objects, a few MiB.
GC_THRESHOLDS = (20_000, 10, 10)


def freeze_startup_heap() -> int:
    """Move the objects built while starting (modules, settings, the app) out of the garbage
    collector's reach, once start-up garbage is collected, and set the collector's
    thresholds for serving (:data:`GC_THRESHOLDS`); returns how many objects were frozen.

    The frozen objects live as long as the process, yet every full collection walked them
    while the event loop, and with it every live call's 20 ms media clock, stood still; and
    young collections at Python's default threshold ran about twice per tick at 300 audio
    calls (bench/README.md, capacity).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    frozen = gc.get_freeze_count()
    log.info("start-up heap frozen", extra={"objects": frozen})
    return frozen


def single_threaded_blas() -> None:
    """Let numpy's BLAS (OpenBLAS in numpy's wheels) compute on the calling thread only.

    A serving process's parallelism is its calls, not one matrix: the echo canceller's path
    fit on a 40 ms block (``VOXLINE_MEDIA_BLOCK_MS``) is big enough for OpenBLAS to hand it
    to its worker threads, which then spin waiting for the next one. At 300 audio calls that
    took most of the second core for nothing (bench/README.md, capacity, media blocks).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _run(work: Callable[[Database], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` against the configured database, turning Voxline errors into exit code 1."""
    settings = settings or _settings()

    async def main() -> T:
        db = Database(settings.resolved_database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except VoxlineError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise typer.BadParameter("must be a finite number")
    return value


@recordings_app.command("prune")
def recordings_prune() -> None:
    """Upload recordings left in the spool, then delete those older than
    VOXLINE_RECORDINGS_RETENTION_DAYS (what the engine does every upkeep interval)."""
    from voxline.services.recording_retention import recording_upkeep

    settings = _settings()
    if settings.recordings_retention_days is None:
        err.print("VOXLINE_RECORDINGS_RETENTION_DAYS is unset: no recording is deleted")
    report = _run(lambda db: recording_upkeep(db, settings), settings)
    out.print(f"deleted {report.deleted}, uploaded {report.uploaded}, failed {report.failed}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    no_engine: Annotated[
        bool, typer.Option("--no-engine", help="Serve the API only; run `voxline worker` apart")
    ] = False,
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Upgrade the schema before serving")
    ] = True,
) -> None:
    """Serve the API (and, by default, the call engine) until interrupted."""
    import uvicorn

    from voxline.api.app import create_app
    from voxline.ops.server import DrainingServer
    from voxline.runtime import build_runtime

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    if migrate_first:
        migrate.upgrade(settings.resolved_database_url)
    runtime = build_runtime(settings, run_engine=not no_engine)
    application = create_app(settings, runtime)
    single_threaded_blas()
    freeze_startup_heap()
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(),
        proxy_headers=True,
    )
    # Readiness fails from the signal on, before uvicorn stops (voxline.ops.server).
    server = DrainingServer(config, runtime)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        # As uvicorn.run does: the port was taken, or the app failed to start.
        raise typer.Exit(3)


@app.command()
def worker(
    ops_port: Annotated[
        int | None,
        typer.Option(
            help="Serve /healthz, /readyz and /metrics on this port (VOXLINE_WORKER_OPS_PORT)"
        ),
    ] = None,
) -> None:
    """Run the call engine alone (dispatcher, timers, finalizer) until SIGTERM or Ctrl-C.

    Run several on PostgreSQL next to `voxline serve --no-engine` API nodes. On SQLite, run
    exactly one engine in total. The first SIGTERM (or Ctrl-C) drains: readiness fails, no
    new call is placed here, and live calls get VOXLINE_ENGINE_DRAIN_SECONDS to end before
    the rest end `shutdown`; a second one ends them at once. Either way the process records
    what it hosted and exits 0.
    """
    import signal

    from voxline.ops.server import ops_server
    from voxline.runtime import build_runtime

    overrides: dict[str, object] = {}
    if ops_port is not None:
        overrides["worker_ops_port"] = ops_port
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    migrate.upgrade(settings.resolved_database_url)

    async def main() -> None:
        stop = asyncio.Event()
        runtime = build_runtime(settings, run_engine=True)

        def shut_down() -> None:
            if stop.is_set():
                runtime.cut_drain_short()
            runtime.begin_draining()
            stop.set()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, shut_down)
        ops = None
        if settings.worker_ops_port is not None:
            ops = ops_server(runtime, settings.host, settings.worker_ops_port, settings.log_level)
        listener = asyncio.create_task(ops.serve()) if ops is not None else None
        single_threaded_blas()
        freeze_startup_heap()
        try:
            async with runtime.running():
                await stop.wait()
        finally:
            # Readiness stays visible (failing) until the drain and the engine are done.
            if ops is not None and listener is not None:
                ops.should_exit = True
                await listener

    asyncio.run(main())


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Create or upgrade the schema (SQLite or PostgreSQL, from VOXLINE_DATABASE_URL)."""
    settings = _settings()
    migrate.upgrade(settings.resolved_database_url, revision)
    out.print(f"database at revision {revision}")


@orgs_app.command("create")
def orgs_create(name: str) -> None:
    """Create an organization and print its id."""
    from voxline.services import orgs

    org = _run(lambda db: orgs.create_org(db, name))
    out.print(org.id)


@orgs_app.command("set-concurrency")
def orgs_set_concurrency(
    org_id: str,
    limit: Annotated[int, typer.Argument(min=1, help="Simultaneous calls allowed")],
) -> None:
    """Set how many calls an organization may have live at once."""
    from voxline.services import orgs

    org = _run(lambda db: orgs.set_concurrency_limit(db, org_id, limit))
    out.print(f"{org.id}: concurrency limit {org.concurrency_limit}")


@keys_app.command("create")
def keys_create(
    org: Annotated[str, typer.Option("--org", help="Organization id")],
    name: Annotated[str | None, typer.Option(help="A label for the key")] = None,
) -> None:
    """Create an API key. The key is printed once and cannot be shown again."""
    from voxline.services import keys

    issued = _run(lambda db: keys.create_key(db, org, name))
    err.print(f"key id {issued.key.id} (store the key now: it is not shown again)")
    out.print(issued.secret, soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke an API key; requests with it answer 401 from now on."""
    from voxline.services import keys

    key = _run(lambda db: keys.revoke_key(db, key_id))
    out.print(f"revoked {key.id} ({key.prefix}…)")


@credits_app.command("set")
def credits_set(org_id: str, amount: str) -> None:
    """Set an organization's balance in USD."""
    from voxline.services import billing

    value = _amount(amount)
    balance = _run(lambda db: billing.set_balance(db, org_id, value))
    out.print(f"{org_id}: balance ${balance}")


@credits_app.command("add")
def credits_add(org_id: str, amount: str) -> None:
    """Add USD credit to an organization's balance."""
    from voxline.services import billing

    value = _amount(amount)
    balance = _run(lambda db: billing.add_credit(db, org_id, value))
    out.print(f"{org_id}: balance ${balance}")


@app.command()
def bootstrap(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout")] = False,
    print_curl: Annotated[
        bool, typer.Option("--print-curl", help="Also print a curl that places a first call")
    ] = False,
) -> None:
    """Create (once) a demo organization with $10, an API key, and a sandbox number assigned
    to a demo agent; print them. Running it again prints the same demo."""
    from voxline.services.bootstrap import bootstrap as run_bootstrap
    from voxline.services.bootstrap import first_call_curl

    settings = _settings()
    migrate.upgrade(settings.resolved_database_url)
    demo = _run(lambda db: run_bootstrap(db, settings), settings)
    if as_json:
        sys.stdout.write(json.dumps(demo.as_dict()) + "\n")
        return
    out.print("[bold]Voxline demo[/bold]")
    out.print(f"  organization  {demo.org_id}")
    out.print(f"  API key       {demo.api_key}", soft_wrap=True)
    out.print(f"  agent         {demo.agent_id}")
    out.print(f"  phone number  {demo.phone_number} (sandbox, inbound and outbound)")
    if print_curl:
        out.print("\nPlace a first call (the sandbox callee answers and talks):\n")
        sys.stdout.write(first_call_curl(settings, demo) + "\n\n")


def main() -> None:  # pragma: no cover - console entry point
    app()
