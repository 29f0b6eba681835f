"""The finalizer: after a call ends, its duration, cost, one ledger debit and a summary,
then the provider's recording when Voxline has none (see
:mod:`voxline.services.provider_recordings`).

Finalization happens once per call: ``finalized_at`` is claimed by a conditional update in
the same transaction as the ledger debit, and the ledger's unique ``call_id`` refuses a
second debit even if two finalizers raced.

A call of a batch updates its batch contact in that transaction too (done, or a retry; see
:mod:`voxline.services.batch_runs`).

When the contact asked not to be called again (a phrase of
:func:`voxline.voice.brain.scripted.asks_not_to_be_called`) and the call's agent has
``dnc_on_request``, the number goes on the organization's do-not-call list in the same
transaction, with the reason "asked during call <id>".

A call is billed for its connected time, from answer to end as recorded (times already
bounded when the events were applied), and for at most its ``max_duration`` plus
``answered_grace_seconds``: no report of a provider or a crash bills more than the call was
allowed to last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.domain.call_clock import answered_limit_seconds, billable_seconds
from voxline.domain.calls import TERMINAL_STATUSES, CallStatus
from voxline.domain.lines import time_scale
from voxline.domain.money import to_micros
from voxline.domain.pricing import PriceTable, billed_seconds
from voxline.domain.summary import Turn, extractive_summary
from voxline.engine.wakeup import DELIVER, FINALIZE, SCHEDULE, Wakeups
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.services import batch_runs, billing, dnc
from voxline.services.call_records import CallSettings
from voxline.services.ports import CallStore
from voxline.services.provider_recordings import (
    RETRY_DELAYS,
    Fetcher,
    claim_attempt,
    due_calls,
    fetch_once,
    first_due,
    wanted,
)
from voxline.services.transcripts import load_turns
from voxline.storage.calls import CALL_STORE
from voxline.storage.db import Database
from voxline.storage.tables import agents, calls
from voxline.storage.types import utcnow
from voxline.voice.brain.base import Utterance
from voxline.voice.brain.openai import ChatClient, summarize
from voxline.voice.brain.scripted import asks_not_to_be_called

log = get_logger("engine.finalizer")

_TERMINAL = [s.value for s in TERMINAL_STATUSES]


class Finalizer:
    """Finalizes ended calls; ``recordings`` fetches the recording of a call on each
    provider that offers one, asked on a call's schedule of ``recording_delays``."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        wakeups: Wakeups,
        recordings: Mapping[str, Fetcher] | None = None,
        recording_delays: tuple[float, ...] = RETRY_DELAYS,
        store: CallStore = CALL_STORE,
    ) -> None:
        self.db = db
        self.store = store
        self.recordings = dict(recordings or {})
        self.recording_delays = recording_delays
        self.wakeups = wakeups
        self.settings = settings
        self.prices = PriceTable(
            settings.price_platform_per_minute, settings.price_telephony_per_minute
        )
        self.poll = settings.engine_poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                while await self.finalize_due() > 0 and not stop.is_set():
                    pass
                await self.fetch_recordings_due()
            except Exception:
                log.exception("finalizer round failed")
            await self.wakeups.wait(FINALIZE, self.poll)

    async def finalize_due(self, limit: int = 50) -> int:
        async with self.db.read() as conn:
            ids = (
                (
                    await conn.execute(
                        sa.select(calls.c.id)
                        .where(calls.c.status.in_(_TERMINAL), calls.c.finalized_at.is_(None))
                        .order_by(calls.c.ended_at)
                        .limit(limit)
                    )
                )
                .scalars()
                .all()
            )
        done = 0
        for call_id in ids:
            done += await self.finalize(call_id)
        return done

    async def fetch_recordings_due(self, limit: int = 50) -> int:
        """Ask the providers for the recordings now due; the number cached."""
        cached = 0
        now = utcnow()
        for call_id in await due_calls(self.db, now, limit):
            provider = await claim_attempt(self.db, call_id, now, self.recording_delays)
            fetch = self.recordings.get(provider or "")
            if fetch is None:
                continue
            if await fetch_once(self.db, self.settings, str(provider), call_id, fetch):
                cached += 1
        return cached

    def billed_time(
        self,
        started_at: datetime | None,
        ended_at: datetime | None,
        settings: dict[str, object] | None,
        provider_type: str | None,
    ) -> float:
        """Connected seconds to bill, within the call's max_duration and the grace."""
        limit = answered_limit_seconds(
            CallSettings.from_json(settings or {}).max_duration_seconds,
            grace_seconds=self.settings.answered_grace_seconds,
            time_scale=time_scale(provider_type, self.settings.sandbox_time_scale),
        )
        return billable_seconds(started_at, ended_at, limit_seconds=limit)

    async def _summary(
        self, status: CallStatus, end_reason: str | None, duration: int, turns: list[Turn]
    ) -> str:
        """By the configured LLM when there is one and the call was a conversation; else (or
        when the LLM fails) the extractive summary."""
        if self.settings.llm_base_url and turns:
            client = ChatClient.from_settings(self.settings)
            if client is not None:
                try:
                    history = [Utterance(t.speaker, t.text) for t in turns]
                    text = await summarize(client, self.settings.llm_model or "default", history)
                    if text.strip():
                        return text.strip()
                except ProviderError as exc:
                    log.warning(
                        "LLM summary failed; using the extractive one", extra={"code": exc.code}
                    )
                finally:
                    await client.aclose()
        return extractive_summary(status, end_reason, duration, turns)

    async def finalize(self, call_id: str) -> int:
        """Finalize one ended call; 0 if it was already done (or is not ended)."""
        turns = await load_turns(self.db, call_id)
        async with self.db.read() as conn:
            row = (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).first()
        if row is None or row.finalized_at is not None or row.status not in _TERMINAL:
            return 0
        seconds = self.billed_time(row.started_at, row.ended_at, row.settings, row.provider_type)
        cost = self.prices.cost(billed_seconds(seconds), row.provider_type)
        duration = round(seconds) if row.started_at else 0
        summary = row.summary or await self._summary(
            CallStatus(row.status), row.end_reason, duration, turns
        )
        now = utcnow()
        recording_due = None
        if row.provider_type in self.recordings and wanted(
            row.settings, row.recording_path, row.provider_recording_url
        ):
            recording_due = first_due(now, self.recording_delays)
        batch_changed = False
        async with self.db.write() as conn:
            claimed = await self.store.claim_finalization(
                conn,
                call_id,
                now=now,
                recording_due=recording_due,
                duration_seconds=duration,
                cost_micros=to_micros(cost),
                summary=summary,
            )
            if not claimed:
                return 0
            opted_out = _asked_not_to_be_called(turns)
            if opted_out and await _agent_adds_to_dnc(conn, row.agent_id):
                await dnc.add_in(
                    conn, row.organization_id, row.phone_number, f"asked during call {call_id}"
                )
                log.info("number added to the do-not-call list", extra={"call_id": call_id})
            # The batch row before the organization's (the debit locks it): the scheduler
            # holds a batch and then needs the organization's key share to insert calls.
            if row.batch_contact_id is not None:
                batch_changed = await batch_runs.call_ended(
                    conn,
                    call_id=call_id,
                    batch_contact_id=row.batch_contact_id,
                    status=row.status,
                    ended_at=row.ended_at,
                    opted_out=opted_out,
                    now=now,
                    end_reason=row.end_reason,
                )
            debit = await billing.debit_call(
                conn, row.organization_id, call_id, cost, self.settings.credit_floor_usd
            )
            if debit.uncollected:
                await self.store.note_uncollected(conn, call_id, str(debit.uncollected))
                log.warning(
                    "call cost partly uncollected at the credit floor",
                    extra={"call_id": call_id, "uncollected_usd": str(debit.uncollected)},
                )
        # call.ended and call.analyzed were written with the finalization.
        self.wakeups.wake(DELIVER)
        if batch_changed:
            self.wakeups.wake(SCHEDULE)
        log.info("call finalized", extra={"call_id": call_id, "status": row.status})
        return 1

    def wake(self) -> None:
        self.wakeups.wake(FINALIZE)


def _asked_not_to_be_called(turns: list[Turn]) -> bool:
    return any(t.speaker == "contact" and asks_not_to_be_called(t.text) for t in turns)


async def _agent_adds_to_dnc(conn: AsyncConnection, agent_id: str | None) -> bool:
    if agent_id is None:
        return False
    query = sa.select(agents.c.dnc_on_request).where(agents.c.id == agent_id)
    return bool((await conn.execute(query)).scalar())
