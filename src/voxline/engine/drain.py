"""Draining a stopping process: live calls finish on their own, the rest end ``shutdown``.

When ``voxline serve`` or ``voxline worker`` gets SIGTERM it takes no new work (readiness
fails, the dispatcher claims nothing more, inbound calls are refused so the carrier tries
another node) and :class:`Drain` waits for the calls it hosts to end on their own, for up to
``engine_drain_seconds`` (an hour by default, as long as a conversation may last). Calls
still live then are ended by :func:`end_at_shutdown`: recorded first as ended with
``end_reason`` ``shutdown`` (so the carrier's own hang-up report cannot claim another
reason), then hung up at their carrier. A second signal cuts the wait short
(:meth:`Drain.cut_short`): the calls are ended the same way at once, nothing is lost.

The wait runs on an injected clock and sleep, so its policy is tested in simulated time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from voxline.config import Settings
from voxline.domain.calls import CallEvent, EndReason
from voxline.logging import get_logger
from voxline.services.call_events import apply_event
from voxline.services.provider_calls import hang_up
from voxline.storage.db import Database
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderEvent
from voxline.telephony.registry import ProviderRegistry

__all__ = ["SHUTDOWN_MESSAGE", "Drain", "DrainOutcome", "end_at_shutdown"]

log = get_logger("engine.drain")

SHUTDOWN_MESSAGE = "the process hosting this call shut down"
# How often the live calls are counted while waiting.
POLL_SECONDS = 0.1
# How long calls ended at the limit get to wind down (their transcript, recording and
# figures saved) before the process goes on stopping.
SETTLE_SECONDS = 5.0

LiveCalls = Callable[[], Collection[str]]
EndCalls = Callable[[Sequence[str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DrainOutcome:
    """What a drain did: how many calls were live when it began, how many ended on their
    own meanwhile, which it ended itself, and whether a second signal cut it short."""

    live_at_start: int
    finished: int
    ended: tuple[str, ...]
    cut_short: bool


class Drain:
    """Waits for ``live()`` (the ids of the calls this process hosts) to empty, for up to
    ``limit_seconds``; then calls ``end`` with those still live and gives them up to
    ``settle_seconds`` to wind down. :meth:`run` may be awaited again: a later run finds
    nothing live and returns at once."""

    def __init__(
        self,
        limit_seconds: float,
        live: LiveCalls,
        end: EndCalls,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        poll_seconds: float = POLL_SECONDS,
        settle_seconds: float = SETTLE_SECONDS,
    ) -> None:
        self.limit_seconds = limit_seconds
        self._live = live
        self._end = end
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._sleep = sleep or asyncio.sleep
        self._poll = poll_seconds
        self._settle = settle_seconds
        self._cut = False

    @property
    def is_cut_short(self) -> bool:
        return self._cut

    def cut_short(self) -> None:
        """Stop waiting (a second signal): the live calls are ended at the next poll."""
        if not self._cut:
            log.warning("drain cut short: live calls end now")
        self._cut = True

    async def run(self) -> DrainOutcome:
        start = self._clock()
        deadline = start + self.limit_seconds
        seen = set(self._live())
        if seen:
            log.info(
                "draining: waiting for live calls",
                extra={"count": len(seen), "limit_seconds": self.limit_seconds},
            )
        while self._live() and not self._cut and (left := deadline - self._clock()) > 0:
            await self._sleep(min(self._poll, left))
            seen.update(self._live())
        remaining = sorted(self._live())
        if remaining:
            log.warning("ending live calls at shutdown", extra={"count": len(remaining)})
            await self._end(remaining)
            settle_until = self._clock() + self._settle
            while self._live() and self._clock() < settle_until:
                await self._sleep(self._poll)
        return DrainOutcome(
            live_at_start=len(seen),
            finished=len(seen - set(remaining)),
            ended=tuple(remaining),
            cut_short=self._cut,
        )


async def end_at_shutdown(
    db: Database, settings: Settings, providers: ProviderRegistry, call_ids: Sequence[str]
) -> list[str]:
    """End each call because this process stops: recorded first (an answered call
    ``completed``, one not yet answered ``failed``, both with ``end_reason`` ``shutdown``),
    then hung up at its carrier with its own number's credentials. Returns the ids of the
    calls this changed (one that had ended meanwhile is left as it ended)."""
    changed = []
    for call_id in call_ids:
        event = ProviderEvent(
            call_id=call_id,
            event=CallEvent.SHUTDOWN,
            at=utcnow(),
            end_reason=EndReason.SHUTDOWN,
            cause=EndReason.SHUTDOWN.value,
            details={"message": SHUTDOWN_MESSAGE},
        )
        try:
            status = await apply_event(db, event, settings.sandbox_time_scale)
        except Exception:
            # The call's lease expires and recovery ends it on another process.
            log.exception("recording a call's shutdown failed", extra={"call_id": call_id})
            continue
        if status is not None:
            changed.append(call_id)
        # Hung up even when it had ended meanwhile: the media may still flow.
        try:
            await hang_up(db, settings, providers, call_id)
        except Exception:
            log.exception("hanging up a call at shutdown failed", extra={"call_id": call_id})
    return changed
