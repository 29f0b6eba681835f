"""The semantic end of a contact's turn: a short VAD stop, then a model decides.

The VAD stops after a short silence (~200 ms). :class:`EndOfTurn` then asks a
:class:`TurnModel` how likely the contact has finished, on the turn's audio so far (pauses
included, at most its last 8 s), and waits the extra time the
:class:`~voxline.domain.turn_taking.TurnPolicy` gives for that probability (longer when the
agent just asked for digits, an e-mail or an address). If the contact speaks again meanwhile
(:meth:`EndOfTurn.resumed`), the decision is dropped and the turn goes on: its audio is kept
and the next stop decides again. Otherwise the turn is handed on (``deliver``) with its
probability and the time it was confirmed in its :class:`~voxline.voice.turn_gap.TurnMarks`.

The words are the second judge, both ways. Once the model has scored the stop, the turn's
transcript so far (``words``: the speculative speech-to-text of the same stop, which the
answer needs anyway, so a finished turn waits for nothing it would not have waited for) is
judged (:meth:`~voxline.domain.turn_taking.Said.verdict`): a turn that stops on "and", "to",
"the"... is held until ``unfinished_wait_ms`` after the stop (``held_unfinished`` in its
marks); one that ends a sentence waits at most ``finished_wait_ms``, however low the model
scored it; one whose words say neither ("Yes." before "that's right") waits at least
``unsure_wait_ms``, however high. Which judge set the wait is the marks' ``eot_judge``. The
hold is here, not in the responder, because only here can the contact still go on: the held
turn keeps its audio and the next stop decides again. When the agent asked for digits, an
e-mail or an address the collecting wait applies, unless the words give a whole answer (a
phone number's ten digits).

:class:`SmartTurn` is Smart Turn v3 (BSD-2-Clause), the ONNX model shipped inside the
``pipecat-ai`` wheel, run with onnxruntime on the voice pool. Pipecat itself is never imported:
only its package directory is located (:func:`smart_turn_path`). Without the model (or if it
fails) a turn ends after the policy's ``no_model_wait_ms``, as a plain VAD hang-over would.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from voxline.domain.turn_taking import Asked, Said, TurnPolicy, Verdict, asked_for
from voxline.voice import pool
from voxline.voice.audio import pcm16_to_float32
from voxline.voice.frames import SAMPLE_RATE, SAMPLE_WIDTH
from voxline.voice.turn_features import SAMPLES, last_seconds, log_mel
from voxline.voice.turns import HeardAudio

log = logging.getLogger(__name__)

SMART_TURN_FILE = "smart-turn-v3.2-cpu.onnx"
_SMART_TURN_DIR = ("audio", "turn", "smart_turn", "data")
# Contact audio kept before a turn starts (as the VAD's pre-roll) and at most during one.
_PREROLL_BYTES = int(0.3 * SAMPLE_RATE) * SAMPLE_WIDTH
_TURN_BYTES = SAMPLES * SAMPLE_WIDTH


# How a model's probability is computed off the event loop: (model.probability, audio).
Inference = Callable[[Callable[[bytes], float], bytes], Awaitable[float]]
# The transcript of a held turn as heard so far, or None when there is none to judge.
Words = Callable[[HeardAudio], Awaitable[Said | None]]


class TurnModel(Protocol):
    def probability(self, pcm16_16k: bytes) -> float:
        """How likely (0..1) the speaker has finished, from the turn's audio (16 kHz PCM16)."""


def smart_turn_path() -> Path | None:
    """Where the pipecat-ai wheel put Smart Turn v3 (found without importing pipecat), or
    None when the package or the file is missing."""
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*_SMART_TURN_DIR, SMART_TURN_FILE)
        if path.is_file():
            return path
    return None


class SmartTurn:
    """Smart Turn v3 on onnxruntime, one intra-op thread. Thread-safe (onnxruntime sessions
    may be run from several threads); construction loads the model (~0.1 s)."""

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime as ort

        path = path or smart_turn_path()
        if path is None:
            raise FileNotFoundError(
                f"{SMART_TURN_FILE} not found: install pipecat-ai (see the Makefile)"
            )
        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def probability(self, pcm16_16k: bytes) -> float:
        audio = last_seconds(pcm16_to_float32(pcm16_16k))
        features = log_mel(audio)[np.newaxis, ...]
        outputs = self._session.run(None, {"input_features": features})
        return float(np.asarray(outputs[0]).reshape(-1)[0])


_shared: SmartTurn | None = None
_shared_lock = threading.Lock()


def shared_smart_turn() -> SmartTurn | None:
    """The process's Smart Turn model, loaded once; None when it is not installed."""
    global _shared
    with _shared_lock:
        if _shared is None and smart_turn_path() is not None:
            _shared = SmartTurn()
        return _shared


class EndOfTurn:
    """Holds a contact turn from each VAD stop until it is over (see the module docstring).

    Used from the call's event loop only. ``agent_said`` gives the agent's last reply (for
    :func:`~voxline.domain.turn_taking.asked_for`); ``deliver`` takes the finished turn;
    ``words`` (optional) gives a held turn's transcript, for the lexical check.
    """

    def __init__(
        self,
        model: TurnModel | None,
        deliver: Callable[[HeardAudio], None],
        agent_said: Callable[[], str],
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        policy: TurnPolicy | None = None,
        infer: Inference | None = None,
        words: Words | None = None,
    ) -> None:
        self.model = model
        self.policy = policy or TurnPolicy()
        self._deliver = deliver
        self._agent_said = agent_said
        self._clock = clock
        self._sleep = sleep
        self._infer = infer or _on_pool
        self._words = words
        # Stops whose words sounded unfinished (the contact went on or not).
        self.held_for_words = 0
        self._audio = bytearray()
        self._in_turn = False
        self._held: HeardAudio | None = None
        self._deciding: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        """A stop is being decided on (the contact may still go on)."""
        return self._held is not None

    def listen(self, pcm: bytes) -> None:
        """Every frame of contact audio, in order."""
        self._audio += pcm
        keep = _TURN_BYTES if self._in_turn else _PREROLL_BYTES
        if len(self._audio) > keep:
            del self._audio[: len(self._audio) - keep]

    def started(self) -> None:
        """The VAD heard speech start: a turn opens, or the held one goes on."""
        self._in_turn = True
        self._cancel()

    def stopped(self, heard: HeardAudio) -> None:
        """The VAD stopped: decide (in the background) whether the turn is over."""
        held = self._held
        if held is not None:  # the contact went on after an earlier stop: one turn
            heard.pcm = held.pcm + heard.pcm
            heard.started_at = held.started_at
        self._cancel()
        self._held = heard
        self._deciding = asyncio.get_running_loop().create_task(
            self._decide(heard, bytes(self._audio))
        )

    def take(self) -> HeardAudio | None:
        """The held turn (the call ended before it was decided), once."""
        self._cancel()
        held, self._held = self._held, None
        return held

    def close(self) -> None:
        self._cancel()

    def _cancel(self) -> None:
        if self._deciding is not None:
            self._deciding.cancel()
            self._deciding = None

    async def _decide(self, heard: HeardAudio, audio: bytes) -> None:
        marks = heard.marks
        stopped_at = marks.stopped_at if marks is not None else self._clock()
        asked = asked_for(self._agent_said())
        probability: float | None = None
        if self.model is not None:
            try:
                probability = await self._infer(self.model.probability, audio)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("end-of-turn model failed", extra={"error": type(exc).__name__})
        verdict = await self._judge(heard, stopped_at, asked)
        policy = self.policy
        model_wait_ms = policy.extra_wait_ms(probability, asked)
        wait_ms = policy.extra_wait_ms(probability, asked, verdict)
        wait_s = wait_ms / 1000 - (self._clock() - stopped_at)  # inference and STT count
        held = verdict is Verdict.UNFINISHED
        if held:
            self.held_for_words += 1
        if wait_s > 0:
            await self._sleep(wait_s)
        if self._held is not heard:
            return
        self._held = None
        self._deciding = None
        self._in_turn = False
        del self._audio[: max(0, len(self._audio) - _PREROLL_BYTES)]
        if marks is not None:
            marks.confirmed_at = self._clock()
            marks.eot_probability = probability
            marks.eot_context = None if asked is Asked.NOTHING else asked.value
            marks.held_unfinished = held and wait_ms > model_wait_ms
            marks.eot_judge = _judge_name(probability, asked, verdict, wait_ms, model_wait_ms)
        self._deliver(heard)

    async def _judge(self, heard: HeardAudio, stopped_at: float, asked: Asked) -> Verdict | None:
        """What the turn's words say (once speech-to-text is done); None when there are
        none, or when they come back after the longest hold has passed."""
        if self._words is None:
            return None
        if self._clock() - stopped_at >= self.policy.unfinished_wait_ms / 1000:
            return None
        said = await self._words(heard)
        return None if said is None else said.verdict(asked)


def _judge_name(
    probability: float | None,
    asked: Asked,
    verdict: Verdict | None,
    wait_ms: float,
    model_wait_ms: float,
) -> str:
    """Which judge set a turn's wait: ``words_finished``, ``words_unfinished`` or
    ``words_unsure`` (the words changed the model's or the collecting wait), ``asked`` (the
    collecting wait), ``model``, or ``none`` (no model, no words that changed it)."""
    if verdict is not None and wait_ms != model_wait_ms:
        return f"words_{verdict.value}"
    if asked is not Asked.NOTHING:
        return "asked"
    return "none" if probability is None else "model"


async def _on_pool(func: Callable[[bytes], float], audio: bytes) -> float:
    return await pool.run(func, audio)


__all__ = [
    "EndOfTurn",
    "Inference",
    "SmartTurn",
    "TurnModel",
    "Words",
    "shared_smart_turn",
    "smart_turn_path",
]
