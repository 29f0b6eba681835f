"""Speech for voice tests: synthesised once per session with espeak-ng (no model, ~20 ms)."""

from __future__ import annotations

import re

import pytest

from voxline.voice.tts.espeak import EspeakTts

SENTENCE = "I would like to book an appointment for next Tuesday at three in the afternoon"
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="session")
def espeak() -> EspeakTts:
    return EspeakTts()


@pytest.fixture(scope="session")
async def sentence_pcm(espeak: EspeakTts) -> bytes:
    """SENTENCE spoken by espeak-ng (en-us), 16 kHz PCM16 mono."""
    return await espeak.synthesize(SENTENCE)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, digits spelled out one by one."""
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    return re.sub(r"[^a-z' ]+", " ", text).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance divided by the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        current = [i]
        for j, hyp_word in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
            )
        previous = current
    return previous[-1] / max(1, len(ref))
