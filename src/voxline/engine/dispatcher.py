"""The dispatcher: places queued calls through their provider, at most once each.

Retryable provider failures (timeouts, 5xx, 408, 429) put the call back in the queue with an
exponential backoff until ``placement_max_attempts``; other failures end it ``failed`` with
``context.last_error``. A placement whose outcome is unknown (the request timed out) is asked
of the provider; if it cannot say, the call ends ``failed`` with ``placement_unknown`` rather
than risk dialing a person twice.

Each attempt moves one of the process's counters (:class:`~voxline.ops.metrics.Metrics`):
``voxline_call_placements_total`` when the provider accepted it, else
``voxline_call_placement_failures_total`` with its reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress

from voxline.config import Settings
from voxline.domain.calls import CallEvent, EndReason
from voxline.domain.lines import is_simulated, time_scale
from voxline.engine.claims import ClaimedCall, claim_due_calls, mark_placed, release_for_retry
from voxline.engine.wakeup import DISPATCH, FINALIZE, SCHEDULE, Wakeups
from voxline.errors import ProviderError, VoxlineError
from voxline.logging import get_logger
from voxline.ops.metrics import Metrics, PlacementFailure
from voxline.services.call_events import apply_event
from voxline.services.credentials import credential_for_number
from voxline.services.dnc import REASON as DNC_REASON
from voxline.storage.db import Database
from voxline.storage.types import utcnow
from voxline.telephony.base import (
    PlacementRequest,
    PlacementState,
    ProviderCall,
    ProviderEvent,
    TelephonyProvider,
)
from voxline.telephony.registry import ProviderRegistry

log = get_logger("engine.dispatcher")

BATCH = 50

PlacedHook = Callable[[str], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        registry: ProviderRegistry,
        wakeups: Wakeups,
        worker_id: str,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry
        self.wakeups = wakeups
        self.worker_id = worker_id
        self.metrics = metrics or Metrics(process_collector=False)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                claimed = await self._claim()
                if claimed:
                    # Batches keep few calls queued: claiming some lets them queue more.
                    self.wakeups.wake(SCHEDULE)
                    async with asyncio.TaskGroup() as group:
                        for call in claimed:
                            group.create_task(self.place(call))
                if len(claimed) >= BATCH:
                    continue
            except Exception:
                log.exception("dispatch round failed")
            await self.wakeups.wait(DISPATCH, self.settings.engine_poll_seconds)

    async def _claim(self, only_call_id: str | None = None) -> list[ClaimedCall]:
        return await claim_due_calls(
            self.db,
            worker_id=self.worker_id,
            lease_seconds=self.settings.engine_lease_seconds,
            default_limit=self.settings.default_concurrency_limit,
            batch=BATCH,
            only_call_id=only_call_id,
        )

    async def place_now(self, call_id: str) -> ProviderError | None:
        """Place one just-created call while its request is served (if a slot is free).

        Returns the provider's error when it refused the call for good.
        """
        claimed = await self._claim(only_call_id=call_id)
        if not claimed:
            self.wakeups.wake(DISPATCH)
            return None
        return await self.place(claimed[0])

    async def place(self, call: ClaimedCall) -> ProviderError | None:
        """Dial one claimed call; returns the final provider error if it failed for good.

        A number on the do-not-call list when the call was claimed is not dialed: the call
        fails ``rejected`` with ``context.last_error`` "do_not_call".
        """
        if call.do_not_call:
            self.metrics.placement_failed(call.provider_type, PlacementFailure.REJECTED)
            log.info("call not placed: do-not-call list", extra={"call_id": call.id})
            refusal = ProviderError(
                DNC_REASON, provider=call.provider_type, retryable=False, provider_code=DNC_REASON
            )
            await self._finish(call.id, refusal, EndReason.REJECTED)
            return None
        try:
            request = await self._request(call)
            provider = self.registry.get(call.provider_type)
        except ProviderError as exc:
            await self._fail(call, exc, PlacementFailure.INVALID)
            return exc
        except VoxlineError as exc:
            error = ProviderError(exc.message, provider=call.provider_type, retryable=False)
            await self._fail(call, error, PlacementFailure.INVALID)
            return error
        try:
            provider_call_id = await asyncio.wait_for(
                provider.place_call(request), self.settings.placement_timeout_seconds
            )
        except TimeoutError:
            return await self._unknown_outcome(call, provider, request)
        except ProviderError as exc:
            if exc.retryable and call.attempts < self.settings.placement_max_attempts:
                self.metrics.placement_failed(call.provider_type, PlacementFailure.RETRYING)
                delay = self.settings.placement_backoff_seconds * 2 ** (call.attempts - 1)
                await release_for_retry(self.db, call.id, delay, exc.message)
                log.info(
                    "placement will be retried",
                    extra={"call_id": call.id, "attempt": call.attempts, "delay": delay},
                )
                return None
            reason = PlacementFailure.EXHAUSTED if exc.retryable else PlacementFailure.REJECTED
            await self._fail(call, exc, reason)
            return exc
        self.metrics.placed(call.provider_type)
        scale = time_scale(call.provider_type, self.settings.sandbox_time_scale)
        await mark_placed(
            self.db, call, provider_call_id, self.settings.engine_lease_seconds, scale
        )
        log.info("call placed", extra={"call_id": call.id, "provider": call.provider_type})
        return None

    async def _request(self, call: ClaimedCall) -> PlacementRequest:
        credentials = None
        if not is_simulated(call.provider_type) and call.phone_number_id:
            number = await credential_for_number(self.db, self.settings, call.phone_number_id)
            credentials = number.credentials
        return PlacementRequest(
            call_id=call.id,
            org_id=call.org_id,
            agent_id=call.agent_id,
            to_number=call.to_number,
            from_number=call.from_number,
            provider_type=call.provider_type,
            join_timeout_seconds=call.settings.join_timeout_seconds,
            credentials=credentials,
            leave_voicemail=call.settings.leave_voicemail,
        )

    async def _unknown_outcome(
        self, call: ClaimedCall, provider: TelephonyProvider, request: PlacementRequest
    ) -> ProviderError | None:
        state = PlacementState.UNKNOWN
        with suppress(ProviderError):
            state = await provider.placement_state(ProviderCall(call.id, None, request.credentials))
        if (
            state is PlacementState.NOT_PLACED
            and call.attempts < self.settings.placement_max_attempts
        ):
            self.metrics.placement_failed(call.provider_type, PlacementFailure.RETRYING)
            await release_for_retry(
                self.db, call.id, self.settings.placement_backoff_seconds, "provider timed out"
            )
            return None
        error = ProviderError(
            "The provider did not confirm the placement in time; the call was not retried",
            provider=call.provider_type,
            retryable=False,
        )
        self.metrics.placement_failed(call.provider_type, PlacementFailure.UNKNOWN)
        await self._finish(call.id, error, EndReason.PLACEMENT_UNKNOWN)
        return error

    async def _fail(
        self, call: ClaimedCall, error: ProviderError, reason: PlacementFailure
    ) -> None:
        self.metrics.placement_failed(call.provider_type, reason)
        log.info(
            "placement failed",
            extra={"call_id": call.id, "provider": call.provider_type, "code": error.provider_code},
        )
        await self._finish(call.id, error, EndReason.PROVIDER_ERROR)

    async def _finish(self, call_id: str, error: ProviderError, reason: EndReason) -> None:
        details: dict[str, object] = {"message": error.message}
        if error.provider_code:
            details["provider_code"] = error.provider_code
        await apply_event(
            self.db,
            ProviderEvent(
                call_id=call_id,
                event=CallEvent.FAILED,
                at=utcnow(),
                end_reason=reason,
                cause=error.provider_code or "placement_failed",
                details=details,
            ),
        )
        self.wakeups.wake(FINALIZE)
