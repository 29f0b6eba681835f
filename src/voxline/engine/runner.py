"""The engine: dispatcher, timers, finalizer, webhook deliveries, recording upkeep and the
live calls this process hosts.

``voxline serve`` runs it inside the API process; ``voxline worker`` runs it alone. On
SQLite exactly one engine may run (the single-node mode); on PostgreSQL any number of
workers cooperate through row locks and leases.

Stopping is graceful (:mod:`voxline.engine.drain`): no new calls are claimed, live calls
get ``engine_drain_seconds`` to end on their own, the rest end ``shutdown`` and are hung up,
and ended calls are finalized before exit.

While it runs, :meth:`Engine.stopped_loops` names any of its loops that is no longer running
(a crash, a cancellation), which fails the process's readiness (``GET /readyz``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import sqlalchemy as sa

from voxline.config import Settings
from voxline.domain.calls import CallStatus
from voxline.domain.lines import is_simulated
from voxline.engine.batches import Scheduler
from voxline.engine.deliveries import Deliverer
from voxline.engine.dispatcher import Dispatcher
from voxline.engine.drain import Drain, end_at_shutdown
from voxline.engine.finalizer import Finalizer
from voxline.engine.leases import new_worker_id
from voxline.engine.recording_upkeep import RecordingUpkeep
from voxline.engine.sessions import VoiceSessions
from voxline.engine.timers import Timers
from voxline.engine.wakeup import DELIVER, DISPATCH, FINALIZE, Wakeups, listen, notify
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.ops.metrics import Metrics
from voxline.services.call_events import apply_event
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.telephony.base import ProviderEvent
from voxline.telephony.carriers import Carriers
from voxline.telephony.registry import ProviderRegistry
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import AudioMode, SandboxCarrier
from voxline.telephony.sandbox.line import TextLine, silence_timeout

log = get_logger("engine")


__all__ = ["LOOPS", "Engine", "new_worker_id", "notify_dispatch"]

# The engine's loops, by the names readiness reports them with.
LOOPS = (
    "dispatcher",
    "batches",
    "timers",
    "finalizer",
    "deliveries",
    "recordings",
    "listener",
)


class Engine:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        worker_id: str | None = None,
        *,
        carriers: Carriers | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self.metrics = metrics or Metrics()
        self.wakeups = Wakeups()
        self._loops: dict[str, asyncio.Task[None]] = {}
        self.sessions = VoiceSessions(db, settings, worker_id=self.worker_id, metrics=self.metrics)
        self.voice = self.sessions.kit
        audio = None
        if settings.sandbox_mode == "audio":
            audio = AudioMode(
                tts=lambda: self.voice.tts,
                # The simulated callee waits a little longer before taking its turn.
                vad=lambda: self.voice.vad(hangover_ms=700),
                voice=settings.sandbox_callee_voice,
            )
        self.sandbox = SandboxCarrier(
            events=self.on_provider_event,
            on_answer=self._converse,
            time_scale=settings.sandbox_time_scale,
            placements_log=settings.data_dir / "sandbox" / "placements.log",
            audio=audio,
        )
        self.carriers = carriers or Carriers.for_deployment(settings)
        self.registry = ProviderRegistry(
            {self.sandbox.name: self.sandbox, **self.carriers.by_name()}
        )
        self.dispatcher = Dispatcher(
            db, settings, self.registry, self.wakeups, self.worker_id, metrics=self.metrics
        )
        self.sessions.providers = self.registry
        self.timers = Timers(db, settings, self.registry, self.wakeups)
        self.batches = Scheduler(db, settings, self.wakeups)
        self.finalizer = Finalizer(
            db,
            settings,
            self.wakeups,
            recordings={carrier.name: carrier.recording_url for carrier in self.carriers},
        )
        self.deliverer = Deliverer(db, settings, self.wakeups, self.worker_id)
        self.recordings = RecordingUpkeep(db, settings)
        self.drain = Drain(settings.engine_drain_seconds, self.live_calls, self.end_at_shutdown)
        # Set once this process takes no new calls: the dispatcher stops claiming.
        self._no_claims = asyncio.Event()

    def stop_claiming(self) -> None:
        """Claim no more queued calls (the process drains): other workers place them."""
        if not self._no_claims.is_set():
            log.info("no new calls claimed here", extra={"worker_id": self.worker_id})
        self._no_claims.set()
        self.wakeups.wake(DISPATCH)

    @property
    def claiming(self) -> bool:
        return not self._no_claims.is_set()

    def live_calls(self) -> set[str]:
        """Ids of the calls live here: the sessions this engine hosts, and the sandbox's
        calls (ringing ones, and transferred ones that go on without the agent)."""
        return set(self.sessions.leases.hosted) | self.sandbox.live_call_ids

    async def end_at_shutdown(self, call_ids: Sequence[str]) -> None:
        """End ``call_ids`` as this process stops (``end_reason`` ``shutdown``)."""
        await end_at_shutdown(self.db, self.settings, self.registry, call_ids)
        self.wakeups.wake(FINALIZE)
        self.wakeups.wake(DELIVER)

    async def on_provider_event(self, event: ProviderEvent) -> None:
        """Apply a provider's report to its call (sandbox now; webhooks call this too)."""
        status = await apply_event(self.db, event, self.settings.sandbox_time_scale)
        if status is not None:
            self.wakeups.wake(DELIVER)
        if status is not None and status.is_terminal:
            self.wakeups.wake(FINALIZE)
            self.sessions.drop(event.call_id)
        if status is CallStatus.RINGING and await self._speaks_on_answer(event.call_id):
            # Synthesize the greeting while the phone rings, for the media stream that
            # arrives here once it is answered.
            self.sessions.prepare_ahead(event.call_id)

    async def _speaks_on_answer(self, call_id: str) -> bool:
        """Whether the agent greets the call in audio once answered: an outbound call on a
        provider, or in an audio sandbox."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    sa.select(calls.c.provider_type, calls.c.direction).where(calls.c.id == call_id)
                )
            ).first()
        if row is None or row.direction != "outbound":
            return False
        return not is_simulated(row.provider_type) or self.settings.sandbox_mode == "audio"

    async def place_now(self, call_id: str) -> ProviderError | None:
        """Place a just-created call here, unless this process drains (the call then stays
        queued for the workers that claim calls)."""
        if not self.claiming:
            return None
        return await self.dispatcher.place_now(call_id)

    def wake(self) -> None:
        self.wakeups.wake(DISPATCH)
        self.wakeups.wake(DELIVER)

    async def _converse(self, call_id: str, line: TextLine | AudioEnd) -> None:
        """The agent's side of a connected sandbox call, in text or audio (its session keeps
        the call's lease while it runs)."""
        if isinstance(line, TextLine):
            silence = silence_timeout(
                self.settings.silence_timeout_seconds, self.settings.sandbox_time_scale
            )
            await self.sessions.run_text(call_id, line, silence)
        else:
            await self.sessions.run_audio(call_id, line)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain and return."""
        halt = asyncio.Event()
        log.info("engine started", extra={"worker_id": self.worker_id})
        async with asyncio.TaskGroup() as group:
            loops = {
                # A draining process stops placing calls and queueing batch contacts.
                "dispatcher": self.dispatcher.run(self._no_claims),
                "batches": self.batches.run(self._no_claims),
                "timers": self.timers.run(halt),
                "finalizer": self.finalizer.run(halt),
                "deliveries": self.deliverer.run(halt),
                "recordings": self.recordings.run(halt),
            }
            if "listener" in self.loop_names:
                loops["listener"] = listen(self.db, self.wakeups, halt)
            self._loops = {
                name: group.create_task(loop, name=f"voxline-{name}")
                for name, loop in loops.items()
            }
            await stop.wait()
            self.stop_claiming()
            await self.drain.run()
            await self.sandbox.aclose()
            await self.sessions.aclose()
            await self.finalizer.finalize_due()
            await self.sessions.leases.aclose()
            halt.set()
        # After the finalizer stopped: its recording step asks the carriers.
        await self.carriers.aclose()
        log.info("engine stopped", extra={"worker_id": self.worker_id})

    @property
    def loop_names(self) -> tuple[str, ...]:
        """The loops :meth:`run` runs: PostgreSQL's notifications have a listener too."""
        return LOOPS if not self.db.is_sqlite else tuple(n for n in LOOPS if n != "listener")

    @property
    def loop_tasks(self) -> dict[str, asyncio.Task[None]]:
        """The running loops' tasks by name (empty before :meth:`run`)."""
        return dict(self._loops)

    def stopped_loops(self) -> list[str]:
        """The loops that are not running: all of them before :meth:`run` starts them,
        those that ended (crashed, were cancelled, or stopped at shutdown) after."""
        if not self._loops:
            return list(self.loop_names)
        return [name for name, task in self._loops.items() if task.done()]


async def notify_dispatch(db: Database) -> None:
    """Wake the workers of a PostgreSQL deployment (from an API-only node)."""
    await notify(db, DISPATCH)
