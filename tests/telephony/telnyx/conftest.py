"""Fixtures for the Telnyx adapter tests: a running emulator and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.emulators.telnyx import API_KEY, CONNECTION_ID, PUBLIC_BASE_URL, TelnyxEmulator
from voxline.telephony.credentials import TelnyxCredentials
from voxline.telephony.telnyx.client import TelnyxClient


@pytest.fixture
async def emulator() -> AsyncIterator[TelnyxEmulator]:
    emulator = TelnyxEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def credentials(emulator: TelnyxEmulator) -> TelnyxCredentials:
    return TelnyxCredentials(API_KEY, emulator.public_key, CONNECTION_ID)


@pytest.fixture
async def telnyx(emulator: TelnyxEmulator) -> AsyncIterator[TelnyxClient]:
    client = TelnyxClient(
        public_base_url=PUBLIC_BASE_URL, base_url=emulator.base_url, timeout_seconds=2.0
    )
    yield client
    await client.aclose()
