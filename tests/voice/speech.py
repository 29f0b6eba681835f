"""How tests judge what a speech model heard, and helpers for tests that listen to audio.

Whisper's output is not the same on every machine: CTranslate2 picks its int8 kernels by the
processor's vector extensions (and MKL by its vendor), so one word of a sentence may come out
differently on another processor. Tests therefore judge speech by what is robust:

- the words that carry the meaning (``keywords_missed``): each keyword must be heard, as a
  word or the start of one ("appointment" accepts "appointments");
- a word error rate bound over several sentences (``corpus_wer``) measured on all of
  CTranslate2's kernel families (``CT2_FORCE_CPU_ISA=GENERIC|AVX|AVX2|AVX512``) with a margin,
  rather than one sentence's rate on one machine.

Each bound is written next to the figures it was set from. Greedy decoding on one thread is
deterministic for a given kernel family, so load changes how long a transcription takes,
never what it says.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from voxline.voice.audio import mulaw_to_pcm16, pcm16_to_mulaw, resample

SENTENCE = "I would like to book an appointment for next Tuesday at three in the afternoon"
# Sentences of the kind a call carries, with the words that carry their meaning.
CORPUS: dict[str, tuple[str, ...]] = {
    SENTENCE: ("appointment", "tuesday"),
    "Your appointment is confirmed for Tuesday at three in the afternoon.": (
        "appointment",
        "confirmed",
        "afternoon",
    ),
    "Hello, this is Sam from the dental office calling about your visit": ("calling", "visit"),
    "Please call me back tomorrow morning, I am busy right now": ("call", "tomorrow", "morning"),
    "No thank you, I am not interested, please do not call again": (
        "interested",
        "call",
        "again",
    ),
    "Yes that works for me, thank you very much, goodbye": ("work", "much"),
}
KEYWORDS = sum(len(keys) for keys in CORPUS.values())
# Keywords that may be missed over the whole corpus. Measured: none missed, for either voice,
# clean or through the phone line, on each of CTranslate2's kernel families.
KEYWORDS_MISSED_AT_MOST = 2

_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; digits spelled out one by one ("3" -> "three")."""
    text = re.sub(r"[0-9]", lambda m: f" {_DIGITS[int(m.group())]} ", text.lower())
    return re.sub(r"[^a-z' ]+", " ", text).split()


def edits(reference: str, hypothesis: str) -> int:
    """Word-level edit distance (substitutions, insertions and deletions)."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edit distance over the reference's length."""
    return edits(reference, hypothesis) / max(1, len(words(reference)))


def corpus_wer(pairs: Iterable[tuple[str, str]]) -> float:
    """Word error rate of several (reference, hypothesis) pairs: all edits over all words."""
    total_edits = total_words = 0
    for reference, hypothesis in pairs:
        total_edits += edits(reference, hypothesis)
        total_words += len(words(reference))
    return total_edits / max(1, total_words)


def keywords_missed(keywords: Iterable[str], hypothesis: str) -> list[str]:
    """The keywords not heard in ``hypothesis`` (a heard word may extend a keyword)."""
    heard = words(hypothesis)
    return [key for key in keywords if not any(word.startswith(key) for word in heard)]


def channel_levels(path: Path) -> tuple[float, float, float]:
    """(seconds, RMS of the left channel, RMS of the right channel) of a stereo WAV."""
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 2
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = np.frombuffer(frames, dtype=np.int16).reshape(-1, 2).astype(np.float64)
    left, right = np.sqrt((samples**2).mean(axis=0))
    return seconds, float(left), float(right)


def reversed_speech(pcm16: bytes) -> bytes:
    """The same samples played backwards: speech-like sound that says nothing."""
    return np.frombuffer(pcm16, dtype=np.int16)[::-1].copy().tobytes()


def white_noise(seconds: float, *, rate: int = 16000, seed: int = 1) -> bytes:
    """Loud Gaussian noise, as PCM16 mono."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3000, int(seconds * rate)).astype(np.int16).tobytes()


def phone_line(pcm16_16k: bytes) -> bytes:
    """What a phone call does to speech: 8 kHz, mu-law, and back to 16 kHz."""
    return resample(mulaw_to_pcm16(pcm16_to_mulaw(resample(pcm16_16k, 16000, 8000))), 8000, 16000)


def misunderstood(heard: list[tuple[str, str]], wer_at_most: float) -> list[str]:
    """Why a corpus transcription fails the bounds (empty when it was understood)."""
    reasons = []
    wer = corpus_wer(heard)
    if wer > wer_at_most:
        reasons.append(f"corpus WER {wer:.3f} > {wer_at_most}")
    missed = [key for reference, text in heard for key in keywords_missed(CORPUS[reference], text)]
    if len(missed) > KEYWORDS_MISSED_AT_MOST:
        reasons.append(f"{len(missed)} of {KEYWORDS} keywords missed: {missed}")
    return reasons


def misheard(reference: str, keywords: Iterable[str], heard: str, wer_at_most: float) -> list[str]:
    """Why one line of a live call was not understood (empty when it was): a keyword missed,
    or a word error rate above the bound."""
    reasons = [f"missed {key!r}" for key in keywords_missed(keywords, heard)]
    wer = word_error_rate(reference, heard)
    if wer > wer_at_most:
        reasons.append(f"WER {wer:.3f} > {wer_at_most}")
    return reasons


# The sandbox talker's lines (personas.py, voice espeak-en-us-f3) as Whisper hears them at
# 16 kHz, as a sandbox audio line carries them, on each of CTranslate2's kernel families:
# "Yes, speaking, what is this amount?", "Okay, that sounds good to me.", "No, I think that
# covers it. Thanks, bye!" (WER 0.10 over the three; 0.25 in the other espeak voice). The
# bound leaves room for a line split differently by the endpointer or a few more words lost
# on another processor.
TALKER_KEYWORDS = ("speaking", "good", "thanks")
TALKER_WER_AT_MOST = 0.45
# What the first agent audio after the answer may take. The greeting is synthesized while the
# phone rings, so its first frame goes out on the media clock's first tick (measured 0-10 ms);
# the bound is a hundred times that, for a loaded machine. It is a figure read from a call, not
# a benchmark: bench/ measures latency.
ANSWER_TO_FIRST_AUDIO_MS_AT_MOST = 1000


# Figures the speech tests saw in this run, printed at the end of the run (conftest.py), so a
# CI log shows what this machine's processor made of the corpus.
FIGURES: list[str] = []


def record_figures(label: str, heard: list[tuple[str, str]]) -> None:
    missed = sum(len(keywords_missed(CORPUS[reference], text)) for reference, text in heard)
    FIGURES.append(
        f"{label}: corpus WER {corpus_wer(heard):.3f}, keywords missed {missed}/{KEYWORDS}"
    )
