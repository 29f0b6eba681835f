"""The error boundary of a live call's agent.

Each stage of a turn (speech-to-text, the brain, text-to-speech) runs with a timeout and is
retried once where that is safe (nothing of the reply has been spoken yet). A stage that
still fails raises :class:`StageFailed`; the session then says :data:`APOLOGY` if it can
still speak and ends the call, reporting the :class:`StageFailure` so the call is recorded
with ``end_reason=provider_error`` and ``context.last_error``. The contact never hears
silence because a vendor failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from voxline.errors import VoxlineError

log = logging.getLogger(__name__)

_T = TypeVar("_T")

APOLOGY = (
    "I'm sorry, I'm having technical difficulties right now. We will get back to you. Goodbye."
)


class Stage(StrEnum):
    STT = "speech-to-text"
    BRAIN = "brain"
    TTS = "text-to-speech"


@dataclass(frozen=True, slots=True)
class StageLimits:
    """How long each stage may take for one turn before it counts as failed (seconds)."""

    stt_s: float = 15.0
    brain_s: float = 20.0
    tts_s: float = 15.0

    def timeout(self, stage: Stage) -> float:
        return {Stage.STT: self.stt_s, Stage.BRAIN: self.brain_s, Stage.TTS: self.tts_s}[stage]


@dataclass(frozen=True, slots=True)
class StageFailure:
    """Which stage failed, and why, in words fit for ``context.last_error`` (no call data)."""

    stage: Stage
    message: str


class StageFailed(Exception):
    def __init__(self, failure: StageFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


FailureSink = Callable[[StageFailure], Awaitable[None]]


def describe(stage: Stage, exc: BaseException, timeout_s: float) -> StageFailure:
    """A failure's message: the vendor error's own message, never the data it was given."""
    if isinstance(exc, TimeoutError):
        reason = f"timed out after {timeout_s:g} s"
    elif isinstance(exc, VoxlineError):
        reason = exc.message
    else:
        reason = type(exc).__name__
    return StageFailure(stage, f"{stage.value} failed: {reason}")


async def run_stage(
    stage: Stage,
    call: Callable[[], Awaitable[_T]],
    limits: StageLimits,
    *,
    retry: bool = True,
) -> _T:
    """``await call()`` within the stage's timeout, once more if it fails and ``retry``."""
    timeout_s = limits.timeout(stage)
    attempts = 2 if retry else 1
    for attempt in range(1, attempts + 1):
        try:
            return await asyncio.wait_for(call(), timeout_s)
        except Exception as exc:
            log.warning(
                "voice stage failed",
                extra={"stage": stage.value, "attempt": attempt, "error": type(exc).__name__},
            )
            if attempt == attempts:
                raise StageFailed(describe(stage, exc, timeout_s)) from exc
    raise AssertionError("unreachable")


async def each_within(pieces: AsyncIterator[_T], timeout_s: float) -> AsyncIterator[_T]:
    """The items of ``pieces``, each of which must arrive within ``timeout_s``."""
    try:
        while True:
            try:
                piece = await asyncio.wait_for(anext(pieces), timeout_s)
            except StopAsyncIteration:
                return
            yield piece
    finally:
        closer = getattr(pieces, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
