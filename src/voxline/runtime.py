"""The runtime: everything a Voxline process serves calls with, built in one place.

``voxline serve`` and ``voxline worker`` build the same :class:`Runtime` with
:func:`build_runtime`: settings, database, the carriers and the provider registry, the voice
sessions this process hosts, media tokens, the placer of new calls and the handler of
provider events. ``create_app(settings, runtime)`` receives it, and routes reach it through
a typed dependency (:mod:`voxline.api.deps`), never through untyped ``app.state``
attributes.

With an engine (a single node, a worker, or a test that runs one) provider events go through
the engine, which wakes its own finalizer and prepares greetings; without one (an API-only
node of a scale-out deployment) the same steps happen here and the workers are woken
through the database. Either way a provider event takes one path:
:meth:`Runtime.on_provider_events`.

The runtime also holds what an operator watches the process by: its :class:`Metrics` (its
own Prometheus registry, shared with the engine), the event-loop lag watcher that
:meth:`Runtime.running` runs, and :meth:`Runtime.readiness`, which fails as soon as
shutdown begins (:meth:`Runtime.begin_draining`, called first by the signal handlers of
``voxline serve`` and ``voxline worker``). While it drains it places no new call and refuses
new inbound ones (:meth:`Runtime.refuse_if_draining`), and :meth:`Runtime.drain` lets the
calls it hosts finish (:mod:`voxline.engine.drain`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from voxline.config import Settings
from voxline.domain.calls import CallStatus
from voxline.engine.drain import Drain, DrainOutcome, end_at_shutdown
from voxline.engine.runner import Engine
from voxline.engine.sessions import VoiceSessions
from voxline.engine.wakeup import DELIVER, DISPATCH, FINALIZE, SCHEDULE, notify
from voxline.errors import Conflict, ProviderError, Unavailable
from voxline.logging import get_logger
from voxline.ops.loop_lag import DEFAULT_INTERVAL, watch_loop_lag
from voxline.ops.metrics import Metrics
from voxline.services.call_events import apply_event
from voxline.services.rate_limit import RateLimiter, create_rate_limiter
from voxline.services.sandbox_calls import ring_sandbox_number
from voxline.storage.db import Database, create_database
from voxline.telephony.base import ProviderEvent
from voxline.telephony.callbacks import ProviderCallbacks
from voxline.telephony.carriers import Carriers
from voxline.telephony.media_tokens import MediaTokens
from voxline.telephony.registry import ProviderRegistry
from voxline.telephony.websocket import LiveStreams, PendingSockets

__all__ = ["Readiness", "Runtime", "build_runtime"]

log = get_logger("runtime")


@dataclass(frozen=True)
class Readiness:
    """The outcome of each readiness check: ``"ok"`` or why it failed."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(result == "ok" for result in self.checks.values())


@dataclass
class Runtime:
    """What one process serves calls with. ``engine`` is None on an API-only node;
    ``run_engine`` says whether :meth:`running` runs it (else its owner does)."""

    settings: Settings
    db: Database
    carriers: Carriers
    providers: ProviderRegistry
    sessions: VoiceSessions
    media_tokens: MediaTokens
    rate_limiter: RateLimiter
    metrics: Metrics = field(default_factory=Metrics)
    engine: Engine | None = None
    run_engine: bool = False
    owns_db: bool = False
    live_streams: LiveStreams = field(default_factory=LiveStreams)
    loop_lag_interval: float = DEFAULT_INTERVAL
    draining: bool = False
    pending_sockets: PendingSockets = field(init=False)
    callbacks: dict[str, ProviderCallbacks] = field(init=False)
    drainer: Drain = field(init=False)

    def __post_init__(self) -> None:
        self.pending_sockets = PendingSockets(self.settings.media_pending_per_address)
        self.callbacks = self.carriers.callbacks()
        self.drainer = Drain(
            self.settings.engine_drain_seconds, self.live_calls, self._end_at_shutdown
        )

    async def on_provider_events(self, events: Sequence[ProviderEvent]) -> None:
        """Apply what a provider reported, in order: through the engine where one runs
        here, else here, synthesizing the greeting while an outbound call rings and waking
        the workers' finalizers once it ended."""
        for event in events:
            if self.engine is not None:
                await self.engine.on_provider_event(event)
                continue
            status = await apply_event(self.db, event)
            if status is CallStatus.RINGING:
                self.sessions.prepare_ahead(event.call_id)
            if status is not None and status.is_terminal:
                self.sessions.drop(event.call_id)
                await notify(self.db, FINALIZE)

    async def call_created(self, call_id: str) -> ProviderError | None:
        """Place a new call at once where an engine runs here; else wake the workers.
        Returns the provider's error when it refused the call for good."""
        if self.engine is not None:
            # Its call.queued event is in the outbox.
            self.engine.wakeups.wake(DELIVER)
            if self.engine.claiming:
                return await self.engine.place_now(call_id)
        # Draining (or no engine here): the call stays queued for the workers to place.
        await notify(self.db, DISPATCH)
        return None

    async def batches_changed(self) -> None:
        """A batch was scheduled, resumed or given contacts: wake the scheduler here, or
        the workers'."""
        if self.engine is not None:
            self.engine.wakeups.wake(SCHEDULE)
            self.engine.wakeups.wake(DELIVER)
            return
        await notify(self.db, SCHEDULE)

    async def call_in(self, org_id: str, to_number: str, persona: str | None) -> str:
        """A sandbox persona calls the organization's sandbox number ``to_number``: the
        call is recorded as a carrier's inbound call is (its inbound agent takes it, or it
        is turned away), and this process's sandbox plays the caller. Returns the call's
        id. 409 on a process without an engine (an API-only node has no sandbox)."""
        engine = self.engine
        if engine is None:
            raise Conflict("Calling in needs a process that runs the engine (voxline serve)")
        self.refuse_if_draining()
        ring = await ring_sandbox_number(self.db, self.settings, org_id, to_number, persona)
        if ring.answered and ring.agent_id is not None:
            engine.sandbox.call_in(
                call_id=ring.call_id,
                provider_call_id=ring.provider_call_id,
                org_id=org_id,
                agent_id=ring.agent_id,
                caller=ring.caller,
                number=ring.number,
                persona=ring.persona,
            )
        else:
            engine.wakeups.wake(FINALIZE)
        engine.wakeups.wake(DELIVER)
        return ring.call_id

    def begin_draining(self) -> None:
        """Mark the process as shutting down: readiness fails from now on, so load
        balancers send new work elsewhere while what runs here finishes, and the engine (if
        any) claims no more queued calls."""
        if not self.draining:
            log.info("draining: readiness now fails")
        self.draining = True
        if self.engine is not None:
            self.engine.stop_claiming()

    def refuse_if_draining(self) -> None:
        """Raise :class:`Unavailable` (503, ``Retry-After``) while draining: for new calls
        that reach this process (an inbound webhook, a sandbox call-in), so that they are
        taken elsewhere while the live calls here finish."""
        if self.draining:
            raise Unavailable("This node is shutting down; another node takes new calls")

    def live_calls(self) -> set[str]:
        """Ids of the calls live in this process: the sessions it hosts (sandbox calls,
        media streams, web calls) and, with an engine, the sandbox's calls."""
        live = set(self.sessions.leases.hosted)
        if self.engine is not None:
            live |= self.engine.live_calls()
        return live

    async def drain(self) -> DrainOutcome:
        """Begin draining, let the live calls end on their own for up to
        ``engine_drain_seconds``, then end the rest ``shutdown`` (:mod:`voxline.engine.drain`).
        ``voxline serve`` awaits it before its server stops, so media streams stay open."""
        self.begin_draining()
        return await self.drainer.run()

    def cut_drain_short(self) -> None:
        """A second signal: end the live calls now (recorded, then hung up) and stop."""
        self.drainer.cut_short()
        if self.engine is not None:
            self.engine.drain.cut_short()

    async def _end_at_shutdown(self, call_ids: Sequence[str]) -> None:
        if self.engine is not None:
            await self.engine.end_at_shutdown(call_ids)
            return
        await end_at_shutdown(self.db, self.settings, self.providers, call_ids)
        await notify(self.db, FINALIZE)

    async def readiness(self) -> Readiness:
        """Whether this process should be sent work: the database answers ``SELECT 1``
        within ``readiness_timeout_seconds``, the engine's loops run (where this process
        has an engine), and it is not draining."""
        checks = {"database": "ok"}
        try:
            await self.db.ping(self.settings.readiness_timeout_seconds)
        except TimeoutError:
            checks["database"] = "timed out"
        except Exception as exc:
            # The class only: a driver's message can carry the database URL.
            checks["database"] = f"unreachable ({type(exc).__name__})"
        if self.engine is not None:
            stopped = self.engine.stopped_loops()
            checks["engine"] = "ok" if not stopped else "stopped: " + ", ".join(stopped)
        checks["draining"] = "shutting down" if self.draining else "ok"
        return Readiness(checks)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the engine (if this runtime runs it) and the loop-lag watcher until the
        block ends; then drain, stop them, release the carriers and sessions, and close the
        database if the runtime owns it."""
        stop = asyncio.Event()
        task = None
        if self.run_engine and self.engine is not None:
            task = asyncio.create_task(self.engine.run(stop), name="voxline-engine")
        lag = asyncio.create_task(
            watch_loop_lag(self.metrics.loop_lag, self.loop_lag_interval),
            name="voxline-loop-lag",
        )
        try:
            yield
        finally:
            self.begin_draining()
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag
            stop.set()
            if task is not None:
                await task
            if self.engine is None:
                await self.sessions.aclose()
                await self.carriers.aclose()
            if self.owns_db:
                await self.db.dispose()


def build_runtime(
    settings: Settings,
    db: Database | None = None,
    *,
    run_engine: bool = False,
    engine: Engine | None = None,
) -> Runtime:
    """The runtime of a process. A ``db`` passed in is shared and left open; otherwise one
    is opened from ``settings`` and closed by :meth:`Runtime.running`. ``run_engine`` builds
    an engine that :meth:`Runtime.running` runs (``voxline serve`` on a single node,
    ``voxline worker``); an ``engine`` passed in is used (to place calls, to host sessions)
    but run by its owner. With neither, the process is an API-only node."""
    database = db or create_database(settings.resolved_database_url)
    live = engine or (Engine(database, settings) if run_engine else None)
    metrics = live.metrics if live is not None else Metrics()
    carriers = live.carriers if live is not None else Carriers.for_deployment(settings)
    providers = live.registry if live is not None else ProviderRegistry(carriers.by_name())
    return Runtime(
        settings=settings,
        db=database,
        carriers=carriers,
        providers=providers,
        sessions=(
            live.sessions
            if live is not None
            else VoiceSessions(database, settings, providers=providers, metrics=metrics)
        ),
        media_tokens=MediaTokens.for_deployment(
            settings.resolved_secret_key(), settings.media_token_ttl_seconds
        ),
        rate_limiter=create_rate_limiter(database, settings.rate_limit_per_minute),
        metrics=metrics,
        engine=live,
        run_engine=run_engine and engine is None,
        owns_db=db is None,
    )
