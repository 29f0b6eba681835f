from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.emulators.twilio import TwilioEmulator


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioEmulator]:
    emulator = TwilioEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
