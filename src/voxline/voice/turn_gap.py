"""The gap between the contact's last sound and the agent's reply, as the contact hears it.

Pipeline timestamps undercount what a caller hears: the VAD calls speech over a little after
the last audible sound, it works in 32 ms windows, a synthesized clause starts with quiet,
the 20 ms media clock and the line's buffering put the two directions of audio out of step.
So every audio call measures the gap twice:

- on the wire: :class:`WireMeter` sits between the session's :class:`~voxline.voice.stereo.Aligner`
  and the recording and keeps, per 10 ms block of each recorded channel, whether it is
  audible (RMS at or above :data:`AUDIBLE_DBFS`). :meth:`WireMeter.gap` is then the distance on
  the recording from the contact's last audible block to the agent's first audible block of
  a reply (computed from the recorded samples only);
- by stage: :class:`TurnMarks` collects the pipeline's clock marks and the two channels' byte
  positions during a turn, and :meth:`TurnMarks.settle` turns them into contiguous stages
  (:data:`voxline.voice.metrics.STAGES`) whose sum accounts for the whole gap.

:class:`ContactTail` follows the contact channel as it is received: its position and where
its last audible block ended (the start of the ``vad_lag`` stage).

Memory: one byte per 10 ms block and channel, 720 KB for an hour of call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxline.voice.frames import SAMPLE_RATE, SAMPLE_WIDTH
from voxline.voice.metrics import TurnLatency
from voxline.voice.stereo import Aligner, Recording
from voxline.voice.vad import StreamingVad

# A block is audible at or above this RMS level (dBFS): well under speech (-30..-10 dBFS),
# well over a quiet line or the dither of a synthesized voice's leading silence.
AUDIBLE_DBFS = -45.0
BLOCK_MS = 10
BLOCK_SAMPLES = SAMPLE_RATE * BLOCK_MS // 1000
BLOCK_BYTES = BLOCK_SAMPLES * SAMPLE_WIDTH
BYTES_PER_MS = SAMPLE_RATE * SAMPLE_WIDTH / 1000
_FLOOR = 32768.0 * 10 ** (AUDIBLE_DBFS / 20)


def audible_blocks(pcm: bytes) -> np.ndarray:
    """Whether each whole 10 ms block of PCM16 mono is audible (a trailing part is ignored)."""
    count = len(pcm) // BLOCK_BYTES
    if count == 0:
        return np.zeros(0, dtype=bool)
    samples = np.frombuffer(pcm, dtype="<i2", count=count * BLOCK_SAMPLES).astype(np.float32)
    rms = np.sqrt(np.mean(samples.reshape(count, BLOCK_SAMPLES) ** 2, axis=1))
    return np.asarray(rms >= _FLOOR)


def leading_quiet_ms(pcm: bytes) -> float:
    """How long ``pcm`` stays below the audible level from its start (all of it if never)."""
    loud = audible_blocks(pcm)
    hits = np.flatnonzero(loud)
    if hits.size == 0:
        return len(pcm) / BYTES_PER_MS
    return float(hits[0] * BLOCK_MS)


class _Blocks:
    """A channel cut into 10 ms blocks as it arrives, whatever the chunk sizes."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self.flags = bytearray()  # 1 = audible, per block

    def add(self, pcm: bytes) -> np.ndarray:
        self._pending += pcm
        whole = len(self._pending) - len(self._pending) % BLOCK_BYTES
        loud = audible_blocks(bytes(self._pending[:whole]))
        del self._pending[:whole]
        self.flags += loud.astype(np.uint8).tobytes()
        return loud


class ContactTail:
    """The contact channel as the session receives it: its length and its last sound."""

    def __init__(self) -> None:
        self._blocks = _Blocks()
        self._count = 0  # blocks seen
        self.received_ms = 0.0
        self.last_audible_ms: float | None = None  # end of the last audible block

    def feed(self, pcm: bytes) -> None:
        loud = self._blocks.add(pcm)
        self._blocks.flags.clear()  # only positions are kept here
        hits = np.flatnonzero(loud)
        if hits.size:
            self.last_audible_ms = float((self._count + int(hits[-1]) + 1) * BLOCK_MS)
        self._count += loud.size
        self.received_ms += len(pcm) / BYTES_PER_MS


class WireMeter:
    """A :class:`Recording` in front of the real one (if any) that measures the recording.

    Both channels arrive in equal chunks (the Aligner's), so block ``i`` of each channel is
    the same 10 ms of the recording.
    """

    def __init__(self, recording: Recording | None = None) -> None:
        self._recording = recording
        self._agent = _Blocks()
        self._contact = _Blocks()

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None:
        if self._recording is not None:
            self._recording.write(agent_pcm, contact_pcm)
        self._agent.add(agent_pcm)
        self._contact.add(contact_pcm)

    def gap(self, agent_from_ms: float, *, within_ms: float = 2000.0) -> float | None:
        """The gap (ms) before the agent's first audible block at or after ``agent_from_ms``
        (and no later than ``within_ms`` after it): from the end of the contact's last
        audible block before it to the start of that block. None without such blocks, or
        when the contact was still audible there (the agent talked over the contact)."""
        agent = np.frombuffer(bytes(self._agent.flags), dtype=np.uint8)
        contact = np.frombuffer(bytes(self._contact.flags), dtype=np.uint8)
        start = max(0, int(agent_from_ms // BLOCK_MS))
        stop = min(agent.size, start + int(within_ms // BLOCK_MS) + 1)
        onsets = np.flatnonzero(agent[start:stop])
        if onsets.size == 0:
            return None
        onset = start + int(onsets[0])
        before = np.flatnonzero(contact[: min(onset, contact.size)])
        if before.size == 0:
            return None
        last_end = int(before[-1]) + 1
        if last_end >= onset:
            return None
        return float((onset - last_end) * BLOCK_MS)


@dataclass
class TurnMarks:
    """What the session notes of one contact turn on its way to an answer.

    Clock times are seconds on the session's clock; positions are ms of audio on the
    recording's channels (contact received, agent sent).
    """

    stopped_at: float  # the VAD stop was processed
    contact_at_ms: float  # contact audio received at the stop
    agent_at_stop_ms: float  # agent audio sent at the stop
    last_audible_ms: float | None  # end of the contact's last audible block
    vad_wait_ms: float  # the hang-over: last voiced window's end -> the stop
    vad_frame_ms: float  # received past the VAD's last whole window
    confirmed_at: float | None = None
    eot_probability: float | None = None
    eot_context: str | None = None
    stt_started_at: float | None = None
    stt_done_at: float | None = None
    first_clause_at: float | None = None
    queued_at: float | None = None
    tts_lead_ms: float = 0.0
    # STT (and perhaps the reply's start) ran while the end of the turn was decided.
    speculated: bool = False
    # The transcript stopped mid-sentence, so the turn was held longer than the model said.
    held_unfinished: bool = False
    # Which judge set the end-of-turn wait (voice.end_of_turn: model, words_finished, ...).
    eot_judge: str | None = None

    @classmethod
    def at_stop(
        cls, now: float, tail: ContactTail, aligner: Aligner, vad: StreamingVad
    ) -> TurnMarks:
        """The marks of a turn whose VAD stop was just processed at ``now``."""
        endpointer = vad.endpointer
        ended = endpointer.speech_ended_ms or endpointer.position_ms
        return cls(
            stopped_at=now,
            contact_at_ms=tail.received_ms,
            agent_at_stop_ms=aligner.agent_bytes / BYTES_PER_MS,
            last_audible_ms=tail.last_audible_ms,
            vad_wait_ms=endpointer.position_ms - ended,
            vad_frame_ms=vad.buffered_ms,
        )

    @classmethod
    def streamed(
        cls, now: float, tail: ContactTail, aligner: Aligner, endpoint_wait_ms: float
    ) -> TurnMarks:
        """The marks of a turn a streaming speech-to-text ended and transcribed at ``now``:
        its endpointing wait is the hang-over, and there is no STT stage left."""
        return cls(
            stopped_at=now,
            contact_at_ms=tail.received_ms,
            agent_at_stop_ms=aligner.agent_bytes / BYTES_PER_MS,
            last_audible_ms=tail.last_audible_ms,
            vad_wait_ms=endpoint_wait_ms,
            vad_frame_ms=0.0,
            confirmed_at=now,
            stt_started_at=now,
            stt_done_at=now,
        )

    def settle(self, played_at: float, agent_at_ms: float) -> TurnLatency:
        """The turn's stages, once its first frame left at ``played_at`` from agent
        position ``agent_at_ms``; ``wire_gap_ms`` is filled in later from the recording."""
        # Each mark no earlier than the one before: work done ahead (while the end of the
        # turn was decided) only counts for what is left of it once the turn is confirmed.
        confirmed = _after(self.stopped_at, self.confirmed_at)
        stt_start = _after(confirmed, self.stt_started_at)
        stt_done = _after(stt_start, self.stt_done_at)
        first = _after(stt_done, self.first_clause_at)
        queued = _after(first, self.queued_at)
        span_ms = (played_at - self.stopped_at) * 1000
        heard_ms = self.contact_at_ms - self.vad_frame_ms - self.vad_wait_ms
        last = self.last_audible_ms if self.last_audible_ms is not None else heard_ms
        latency = TurnLatency(
            vad_wait_ms=self.vad_wait_ms,
            stt_ms=(stt_done - stt_start) * 1000,
            brain_ms=(first - stt_done) * 1000,
            tts_ms=(queued - first) * 1000,
            vad_lag_ms=heard_ms - last,
            vad_frame_ms=self.vad_frame_ms,
            eot_wait_ms=(confirmed - self.stopped_at) * 1000,
            queue_ms=(stt_start - confirmed) * 1000,
            playout_ms=(played_at - queued) * 1000,
            tts_lead_ms=self.tts_lead_ms,
            alignment_ms=self.agent_at_stop_ms - self.contact_at_ms,
            clock_drift_ms=(agent_at_ms - self.agent_at_stop_ms) - span_ms,
            eot_probability=self.eot_probability,
            eot_context=self.eot_context,
            speculated=self.speculated,
            held_unfinished=self.held_unfinished,
            eot_judge=self.eot_judge,
            agent_at_ms=agent_at_ms,
        )
        latency.total_ms = latency.stage_sum()
        return latency


def _after(previous: float, mark: float | None) -> float:
    return previous if mark is None else max(previous, mark)
