"""A call's contact heard by a streaming speech-to-text engine.

With a batch engine the session's own VAD ends the contact's turn and the turn's audio is
transcribed then. With a :class:`~voxline.voice.stt.stream.StreamingSpeechToText` the engine
hears the call as it happens: :class:`StreamedHearing` sends it every inbound frame, and the
turn ends on the engine's endpointing (a ``speech_final`` result, or an utterance end) with
its final transcript, delivered to the session as :class:`~voxline.voice.turns.HeardText`.
The session's VAD still runs for barge-in and silence prompts; its own end of speech is
then not a turn.

Times: the engine reports positions in its stream's audio, and every frame the session hears
is sent, so "now" in the call is the end of the audio fed so far. A turn's
``endpoint_wait_ms`` is how long after its last word the engine ended it; its
``last_word_at`` and ``started_at`` are placed on the session's clock from there.

Failures: a stream that cannot open or drops is opened again (the audio of the dropped
stream's unfinished turn is lost); after :data:`MAX_FAILURES` failures in a row (a stream
that sent something before it dropped starts the count afresh) the hearing gives up with
:class:`~voxline.voice.stages.StageFailed` (stage ``STT``), and the session ends the call
with its apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from voxline.errors import ProviderError
from voxline.voice.frames import SAMPLE_RATE, SAMPLE_WIDTH
from voxline.voice.stages import Stage, StageFailed, describe
from voxline.voice.stt.stream import (
    EndOfTurn,
    SpeechStream,
    StreamingSpeechToText,
    TranscriptKind,
    TurnAssembler,
)
from voxline.voice.turns import HeardText

log = logging.getLogger(__name__)

MAX_FAILURES = 2
# Audio kept while a stream (re)opens: 5 s; older frames are dropped.
MAX_QUEUED_FRAMES = 250
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH


class StreamedHearing:
    """Feeds one call's inbound audio to a streaming engine and hands over its turns.

    :meth:`feed` never waits (it is called from the media path); :meth:`run` owns the
    stream until :meth:`close`, which returns the turns the engine settled on closing.
    """

    def __init__(
        self,
        engine: StreamingSpeechToText,
        *,
        clock: Callable[[], float],
        deliver: Callable[[HeardText], None],
    ) -> None:
        self.engine = engine
        self._clock = clock
        self._deliver = deliver
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._fed_bytes = 0
        self._queued_bytes = 0
        self._stream_base_bytes = 0  # audio fed before the current stream opened
        self._stream_heard = False  # the current stream has sent something
        self._closing = False
        self._started = False
        self._closed = asyncio.Event()
        self._leftovers: list[HeardText] = []

    def feed(self, pcm16_16k: bytes) -> None:
        """One inbound frame, as heard."""
        if self._closing:
            return
        self._fed_bytes += len(pcm16_16k)
        if self._frames.full():
            self._take_frame()  # the stream is down: keep the latest audio
        self._frames.put_nowait(pcm16_16k)
        self._queued_bytes += len(pcm16_16k)

    def _take_frame(self) -> bytes | None:
        frame = self._frames.get_nowait()
        self._queued_bytes -= len(frame or b"")
        return frame

    async def run(self) -> None:
        """Hear the call until :meth:`close`; raises :class:`StageFailed` for good."""
        failures = 0
        self._started = True
        try:
            while not self._closing:
                try:
                    await self._one_stream()
                except ProviderError as exc:
                    # A stream that worked for a while starts the count afresh: two drops
                    # far apart in a long call are not an outage.
                    failures = 1 if self._stream_heard else failures + 1
                    log.warning(
                        "speech stream failed",
                        extra={
                            "provider": exc.provider,
                            "retryable": exc.retryable,
                            "attempt": failures,
                        },
                    )
                    if not exc.retryable or failures >= MAX_FAILURES:
                        raise StageFailed(describe(Stage.STT, exc, 0.0)) from None
        finally:
            self._closed.set()

    async def _one_stream(self) -> None:
        stream = await self.engine.open()
        # The frames still queued are the new stream's first audio.
        self._stream_base_bytes = self._fed_bytes - self._queued_bytes
        self._stream_heard = False
        assembler = TurnAssembler()
        sender = asyncio.ensure_future(self._send(stream))
        try:
            async for event in stream.events():
                self._stream_heard = True
                if event.kind in (TranscriptKind.FINAL, TranscriptKind.UTTERANCE_END):
                    turn = assembler.feed(event)
                    if turn is not None:
                        self._hand_over(turn)
            if sender.done() and (error := sender.exception()) is not None:
                raise error
            if self._closing and (turn := assembler.flush()) is not None:
                self._hand_over(turn)
            if not self._closing:
                raise ProviderError(
                    "the speech stream ended unasked", provider=self.engine.name, retryable=True
                )
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ProviderError):
                await sender
            await stream.close()

    async def _send(self, stream: SpeechStream) -> None:
        while True:
            frame = await self._frames.get()
            self._queued_bytes -= len(frame or b"")
            if frame is None:
                break
            await stream.send(frame)
        await stream.close()  # close() asked for it: the engine sends its last words

    def _hand_over(self, turn: EndOfTurn) -> None:
        now = self._clock()
        position_s = (self._fed_bytes - self._stream_base_bytes) / BYTES_PER_SECOND
        wait_s = max(0.0, position_s - turn.end_s)
        spoken_s = max(0.0, turn.end_s - turn.start_s)
        heard = HeardText(turn.text, now - wait_s - spoken_s, now - wait_s, wait_s * 1000)
        if self._closing:
            self._leftovers.append(heard)
        else:
            self._deliver(heard)

    async def close(self, timeout_s: float = 5.0) -> list[HeardText]:
        """End the stream: the engine settles what it heard last; those turns are returned
        (not delivered). Waits for :meth:`run` to finish, ``timeout_s`` at most."""
        if not self._started:
            self._closing = True
            return []
        if not self._closing:
            self._closing = True
            if self._frames.full():
                self._take_frame()
            self._frames.put_nowait(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout_s)
        leftovers, self._leftovers = self._leftovers, []
        return leftovers
