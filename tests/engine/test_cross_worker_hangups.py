"""Any worker hangs up any provider call, with the credentials of the call's own number.

On PostgreSQL, a real ``voxline worker`` process A places a Twilio, Telnyx or Plivo call
through that provider's emulator; A is SIGKILLed; the call is answered (the event applied as
an API node would apply the provider's webhook); its ``max_duration`` passes, and worker
process B — which never saw the placement — sends that provider's hang-up request with that
account's credentials (the emulators refuse any other). An inbound call, which no worker
placed, is hung up the same way when its deadline passes.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.emulators import plivo as plivo_emulator
from tests.emulators import telnyx as telnyx_emulator
from tests.emulators import twilio as twilio_emulator
from tests.engine.deployment import postgres_deployment
from tests.factories import insert_agent, insert_call, make_tenant
from voxline.config import Settings, load_settings
from voxline.domain.calls import CallEvent
from voxline.services.call_events import apply_event
from voxline.services.numbers import import_number
from voxline.storage.db import Database
from voxline.storage.tables import calls
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderEvent

pytestmark = pytest.mark.slow

NUMBER = "+14155557000"
CONTACT = "+14155550123"
SECRET = "cross-worker-hangups"


@dataclass
class Carrier:
    """One provider's emulator and what the test needs to know of it."""

    name: str
    emulator: Any
    env_name: str
    base_url: str
    credentials: dict[str, str]
    hung_up: Callable[[str], bool]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    with postgres_deployment(
        tmp_path / "shared-data",
        "voxline_hangups",
        SECRET_KEY=SECRET,
        PUBLIC_BASE_URL="https://voxline.example.com",
        ENGINE_DRAIN_SECONDS="0",
    ) as created:
        yield created


async def _twilio() -> Carrier:
    emulator = twilio_emulator.TwilioEmulator()
    base = await emulator.start()
    return Carrier(
        "twilio",
        emulator,
        "VOXLINE_TWILIO_API_BASE_URL",
        base,
        {"account_sid": emulator.account_sid, "auth_token": emulator.auth_token},
        # Twilio changes the call's status only on a request signed by its account.
        lambda sid: emulator.calls[sid].status in ("canceled", "completed"),
    )


async def _telnyx() -> Carrier:
    emulator = telnyx_emulator.TelnyxEmulator()
    base = await emulator.start()
    return Carrier(
        "telnyx",
        emulator,
        "VOXLINE_TELNYX_API_BASE_URL",
        base,
        {
            "api_key": telnyx_emulator.API_KEY,
            "public_key": emulator.public_key,
            "connection_id": telnyx_emulator.CONNECTION_ID,
        },
        lambda control_id: any(
            action == "hangup" for action, _ in emulator.calls[control_id].commands
        ),
    )


async def _plivo() -> Carrier:
    emulator = plivo_emulator.PlivoEmulator()
    base = await emulator.start()
    return Carrier(
        "plivo",
        emulator,
        "VOXLINE_PLIVO_API_BASE_URL",
        base,
        {"auth_id": plivo_emulator.AUTH_ID, "auth_token": plivo_emulator.AUTH_TOKEN},
        lambda request_uuid: emulator.calls[request_uuid].state == "ended",
    )


CARRIERS = {"twilio": _twilio, "telnyx": _telnyx, "plivo": _plivo}


@pytest.fixture(params=sorted(CARRIERS))
async def carrier(request: pytest.FixtureRequest) -> AsyncIterator[Carrier]:
    made = await CARRIERS[request.param]()
    try:
        yield made
    finally:
        await made.emulator.stop()


def _worker(env: dict[str, str], carrier: Carrier) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "voxline", "worker"],
        env={**env, carrier.env_name: carrier.base_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _settings(url: str) -> Settings:
    return load_settings(database_url=url, secret_key=SECRET)


async def _number(db: Database, url: str, carrier: Carrier) -> tuple[str, str, str]:
    """An organization, its agent and its imported number of ``carrier``."""
    tenant = await make_tenant(db, "Carrier")
    agent = await insert_agent(db, tenant.org_id)
    number = await import_number(
        db, _settings(url), tenant.org_id, NUMBER, carrier.name, carrier.credentials
    )
    return tenant.org_id, agent, str(number.id)


async def _row(db: Database, call_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(sa.select(calls).where(calls.c.id == call_id))).one()


async def _until(condition: Callable[[], Any], seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_a_worker_that_never_placed_the_call_hangs_it_up_at_max_duration(
    database: tuple[str, dict[str, str]], carrier: Carrier
) -> None:
    url, env = database
    db = Database(url)
    first = second = None
    try:
        org_id, agent_id, number_id = await _number(db, url, carrier)
        call_id = await insert_call(
            db,
            org_id,
            agent_id,
            status="queued",
            phone_number=CONTACT,
            from_number=NUMBER,
            phone_number_id=number_id,
            provider_type=carrier.name,
            settings={"max_duration_seconds": 2.0, "recording_enabled": False},
            not_before=utcnow(),
        )
        first = _worker(env, carrier)

        async def placed() -> bool:
            return bool((await _row(db, call_id)).provider_call_id)

        await _until(placed, 60, "worker A to place the call")
        provider_call_id = (await _row(db, call_id)).provider_call_id
        first.send_signal(signal.SIGKILL)
        first.wait()

        # The provider reports the answer (an API node applies its webhook).
        answered = ProviderEvent(
            call_id, CallEvent.ANSWERED, at=utcnow(), provider_call_id=provider_call_id
        )
        assert await apply_event(db, answered) is not None
        await asyncio.sleep(3)
        # Nobody hung the call up yet: its placer is dead, and no other worker runs.
        assert not carrier.hung_up(provider_call_id)

        second = _worker(env, carrier)

        async def hung_up() -> bool:
            return carrier.hung_up(provider_call_id)

        await _until(hung_up, 60, "worker B to hang the call up at the provider")
        row = await _row(db, call_id)
        assert (row.status, row.end_reason) == ("completed", "max_duration")
    finally:
        for process in (first, second):
            if process is not None:
                _stop(process)
        await db.dispose()


async def test_an_inbound_call_is_hung_up_when_its_deadline_passes(
    database: tuple[str, dict[str, str]], carrier: Carrier
) -> None:
    url, env = database
    db = Database(url)
    worker = None
    try:
        org_id, agent_id, number_id = await _number(db, url, carrier)
        # The call the provider created when the contact dialed our number.
        provider_call_id = await _inbound_at(carrier)
        call_id = await insert_call(
            db,
            org_id,
            agent_id,
            status="in_progress",
            direction="inbound",
            phone_number=CONTACT,
            from_number=NUMBER,
            phone_number_id=number_id,
            provider_type=carrier.name,
            provider_call_id=provider_call_id,
            placement_state="placed",
            started_at=utcnow(),
            deadline_at=utcnow(),
        )
        worker = _worker(env, carrier)

        async def hung_up() -> bool:
            return carrier.hung_up(provider_call_id)

        await _until(hung_up, 60, "the worker to hang the inbound call up")
        row = await _row(db, call_id)
        assert (row.status, row.end_reason) == ("completed", "max_duration")
    finally:
        if worker is not None:
            _stop(worker)
        await db.dispose()


async def _inbound_at(carrier: Carrier) -> str:
    """A live call at the provider's emulator, as if the contact had dialed in."""
    emulator = carrier.emulator
    if carrier.name == "telnyx":
        call, _ = emulator.inbound(CONTACT, NUMBER, "https://voxline.example.com/hook")
        return str(call.call_control_id)
    return str(emulator.inbound_call(CONTACT, NUMBER))
