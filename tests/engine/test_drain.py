"""The drain of a stopping process, in simulated time: live calls finish on their own, those
still live at the limit (or at a second signal) are ended, and nothing waits past the limit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from tests.factories import insert_agent, insert_call, make_tenant
from voxline.config import Settings
from voxline.domain.calls import EndReason
from voxline.engine.drain import SHUTDOWN_MESSAGE, Drain, end_at_shutdown
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.telephony.base import PlacementState, ProviderCall
from voxline.telephony.registry import ProviderRegistry
from voxline.testing import VirtualClock


@dataclass
class Node:
    """The live calls of a simulated process: each ends on its own at its time (None:
    never), or when the drain ends it (at the time it was ended)."""

    clock: VirtualClock
    ends_at: dict[str, float | None]
    ended: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)

    def live(self) -> set[str]:
        now = self.clock.now()
        return {c for c, at in self.ends_at.items() if at is None or at > now}

    async def end(self, call_ids: Sequence[str]) -> None:
        self.ended.append((self.clock.now(), tuple(call_ids)))
        for call_id in call_ids:
            self.ends_at[call_id] = self.clock.now()


def _drain(node: Node, limit: float) -> Drain:
    return Drain(limit, node.live, node.end, clock=node.clock.now, sleep=node.clock.sleep)


async def test_calls_that_end_on_their_own_within_the_limit_are_not_ended() -> None:
    clock = VirtualClock()
    node = Node(clock, {"a": 12.0, "b": 40.0})
    outcome = await clock.run(_drain(node, limit=3600).run())
    assert node.ended == []
    assert outcome.live_at_start == 2 and outcome.finished == 2 and outcome.ended == ()
    # It returned as soon as the last call ended, not at the limit (0.1 s polls).
    assert 40.0 <= clock.now() <= 40.2


async def test_calls_still_live_at_the_limit_end_then_and_not_before() -> None:
    clock = VirtualClock()
    node = Node(clock, {"short": 5.0, "long": None, "longer": 7200.0})
    outcome = await clock.run(_drain(node, limit=60).run())
    assert len(node.ended) == 1
    at, ended = node.ended[0]
    assert at == pytest.approx(60.0)
    assert ended == ("long", "longer")
    assert outcome.ended == ("long", "longer") and outcome.finished == 1
    assert not outcome.cut_short


async def test_a_second_signal_ends_the_live_calls_at_once() -> None:
    clock = VirtualClock()
    node = Node(clock, {"a": None})
    drain = _drain(node, limit=3600)

    async def second_signal() -> None:
        await clock.sleep(10)
        drain.cut_short()

    async def both() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(second_signal())
            outcome = await drain.run()
        assert outcome.cut_short and outcome.ended == ("a",)

    await clock.run(both())
    assert node.ended and 10.0 <= node.ended[0][0] <= 10.2


async def test_nothing_live_returns_at_once_and_a_later_run_ends_nothing() -> None:
    clock = VirtualClock()
    node = Node(clock, {})
    drain = _drain(node, limit=3600)
    outcome = await clock.run(drain.run())
    assert outcome.live_at_start == 0 and outcome.ended == ()
    assert clock.now() == 0.0
    assert (await clock.run(drain.run())).ended == ()


async def test_a_call_that_does_not_wind_down_is_waited_for_only_so_long() -> None:
    clock = VirtualClock()
    node = Node(clock, {"stuck": None})

    async def end_but_it_stays(call_ids: Sequence[str]) -> None:
        node.ended.append((clock.now(), tuple(call_ids)))

    drain = Drain(
        2, node.live, end_but_it_stays, clock=clock.now, sleep=clock.sleep, settle_seconds=5
    )
    outcome = await clock.run(drain.run())
    assert outcome.ended == ("stuck",)
    assert 7.0 <= clock.now() <= 7.2


@dataclass
class HangUps:
    """A carrier that only records the hang-ups it was asked for."""

    name: str = "sandbox"
    hung_up: list[str] = field(default_factory=list)

    async def hangup(self, call: ProviderCall) -> None:
        self.hung_up.append(call.call_id)

    async def place_call(self, request: object) -> str:
        raise AssertionError("nothing is placed while draining")

    async def placement_state(self, call: ProviderCall) -> PlacementState:
        return PlacementState.UNKNOWN

    async def recording_url(self, call: ProviderCall) -> str | None:
        return None

    async def send_digits(self, call: ProviderCall, digits: str) -> bool:
        return False

    async def transfer(self, call: ProviderCall, destination: str) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def test_ending_at_shutdown_records_the_reason_then_hangs_up(
    db: Database, settings: Settings
) -> None:
    tenant = await make_tenant(db)
    agent = await insert_agent(db, tenant.org_id)
    sandbox = dict(provider_type="sandbox", provider_call_id="SBX1")
    talking = await insert_call(db, tenant.org_id, agent, status="in_progress", **sandbox)
    ringing = await insert_call(
        db, tenant.org_id, agent, status="ringing", provider_type="sandbox", provider_call_id="S2"
    )
    ended = await insert_call(
        db,
        tenant.org_id,
        agent,
        status="completed",
        end_reason="contact_hangup",
        provider_type="sandbox",
        provider_call_id="S3",
    )
    carrier = HangUps()
    changed = await end_at_shutdown(
        db, settings, ProviderRegistry({"sandbox": carrier}), [talking, ringing, ended]
    )

    assert sorted(changed) == sorted([talking, ringing])
    assert carrier.hung_up == [talking, ringing, ended]
    async with db.read() as conn:
        rows = {r.id: r for r in (await conn.execute(sa.select(calls))).all()}
    assert rows[talking].status == "completed"
    assert rows[talking].end_reason == EndReason.SHUTDOWN
    assert "last_error" not in rows[talking].context
    assert rows[ringing].status == "failed"
    assert rows[ringing].end_reason == EndReason.SHUTDOWN
    assert rows[ringing].context["last_error"] == SHUTDOWN_MESSAGE
    # A call that had ended meanwhile keeps the reason it ended with.
    assert rows[ended].status == "completed" and rows[ended].end_reason == "contact_hangup"
