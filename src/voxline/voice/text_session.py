"""A text-mode conversation: the agent's brain and the contact exchange turns on a line.

The transcript is written turn by turn (a crash loses at most the turn in flight); each
turn's timestamp is seconds from the moment the call connected to the start of the turn.
An agent turn the contact cut short is stored as far as it was said. A brain that fails for
good (``voice.stages``) gets the apology said in its place and the call ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from voxline.voice.brain.base import Brain, Reply, Utterance
from voxline.voice.channel import AgentLine, LineClosed
from voxline.voice.stages import APOLOGY, FailureSink, Stage, StageFailed, StageLimits, run_stage


class TranscriptSink(Protocol):
    async def add(self, speaker: str, text: str, timestamp: float) -> None: ...


async def converse(
    brain: Brain,
    line: AgentLine,
    transcript: TranscriptSink,
    *,
    silence_timeout: float,
    on_failure: FailureSink | None = None,
    limits: StageLimits | None = None,
) -> None:
    """Hold the conversation until the brain ends it or the line closes."""
    loop = asyncio.get_running_loop()
    connected = loop.time()
    history: list[Utterance] = []

    async def speak(reply: Reply) -> None:
        started = loop.time()
        spoken = await line.say(reply.text)
        if spoken.text:
            history.append(Utterance("agent", spoken.text))
            await transcript.add("agent", spoken.text, round(started - connected, 3))

    stage_limits = limits or StageLimits()

    async def think(call: Callable[[], Awaitable[Reply]]) -> Reply:
        return await run_stage(Stage.BRAIN, call, stage_limits)

    try:
        try:
            await speak(await think(partial(brain.greet)))
            silences = 0
            while True:
                heard = await line.listen(silence_timeout)
                if heard is None:
                    silences += 1
                    reply = await think(partial(brain.on_silence, silences))
                else:
                    silences = 0
                    history.append(Utterance("contact", heard.text))
                    await transcript.add(
                        "contact", heard.text, round(max(0.0, heard.started_at - connected), 3)
                    )
                    reply = await think(partial(brain.respond, list(history)))
                await speak(reply)
                if reply.end_call:
                    line.hangup("agent")
                    return
        except StageFailed as failed:
            # Apologise first, so the transcript holds the apology before the call ends.
            try:
                await speak(Reply(APOLOGY, end_call=True))
            finally:
                if on_failure is not None:
                    await on_failure(failed.failure)
            line.hangup("agent")
    except LineClosed:
        return
