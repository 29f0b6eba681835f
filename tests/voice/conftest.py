"""Speech for voice tests: synthesised once per session with espeak-ng (no model, ~20 ms)."""

from __future__ import annotations

import pytest

from tests.voice.speech import FIGURES, SENTENCE
from voxline.voice.tts.espeak import EspeakTts


@pytest.fixture(scope="session")
def espeak() -> EspeakTts:
    return EspeakTts()


@pytest.fixture(scope="session")
async def sentence_pcm(espeak: EspeakTts) -> bytes:
    """SENTENCE spoken by espeak-ng (en-us), 16 kHz PCM16 mono."""
    return await espeak.synthesize(SENTENCE)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("speech-to-text figures of this machine")
        for line in FIGURES:
            terminalreporter.line(line)
