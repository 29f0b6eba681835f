"""The agent's outgoing speech: a queue of utterances played frame by frame.

It knows how much of each utterance was actually played, so a turn cut short by barge-in is
kept in the transcript only as far as the contact heard it. Playback can be held (silence is
sent, nothing is dropped) while the contact's speech over it is judged, then resumed or cut.

Each frame comes in two forms: the 16 kHz frame Voxline keeps (the recording, the played
position) and the frame at the line's own rate that the transport sends. When the line runs
at another rate (a carrier's 8 kHz), an utterance is resampled once, whole, when it is
queued (:func:`voxline.voice.audio.resample`), instead of 20 ms at a time by a streaming
resampler on every frame of the call: the same audio, less CPU per frame, and no filter
delay smearing one utterance into the next (``tests/voice/test_playback.py`` bounds the
difference).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from voxline.voice.audio import resample
from voxline.voice.frames import FRAME_MS, SAMPLE_RATE, SAMPLE_WIDTH, AudioFrame, frame_bytes


@dataclass
class Utterance:
    """One stretch of agent speech (a clause or sentence) with its text; ``pcm`` is 16 kHz
    PCM16, ``line_pcm`` the same audio at the line's rate (set by :meth:`Playback.enqueue`)."""

    turn: int
    text: str
    pcm: bytes
    played_bytes: int = 0
    line_pcm: bytes = b""

    @property
    def done(self) -> bool:
        return self.played_bytes >= len(self.pcm)

    def spoken_text(self) -> str:
        """The words played so far (proportional to the audio played)."""
        if self.done or not self.pcm:
            return self.text
        words = self.text.split()
        kept = math.floor(len(words) * self.played_bytes / len(self.pcm))
        return " ".join(words[:kept])


@dataclass(frozen=True, slots=True)
class PlayedFrame:
    """One block of agent audio (20 ms, or the playback's ``block_ms``): ``pcm`` at 16 kHz,
    ``line`` the same audio at the line's rate, and the utterance it belongs to (None:
    silence)."""

    pcm: bytes
    line: AudioFrame
    utterance: Utterance | None


@dataclass
class Playback:
    """Utterances waiting to be played, and those played or cut; frames are ``block_ms``
    (20 ms, or a multiple of it) of 16 kHz audio, and also of ``line_rate`` audio for the
    transport."""

    queue: deque[Utterance] = field(default_factory=deque)
    finished: list[Utterance] = field(default_factory=list)
    held: bool = False
    line_rate: int = SAMPLE_RATE
    block_ms: int = FRAME_MS

    def __post_init__(self) -> None:
        if self.block_ms <= 0 or self.block_ms % FRAME_MS:
            raise ValueError(f"a playback block is a whole number of {FRAME_MS} ms frames")
        self._block_bytes = frame_bytes(SAMPLE_RATE, self.block_ms)
        self._line_frame_bytes = frame_bytes(self.line_rate, self.block_ms)
        # An idle or held frame: the same (immutable) silence every time, not a new one.
        self._silence = PlayedFrame(
            bytes(self._block_bytes),
            AudioFrame(bytes(self._line_frame_bytes), self.line_rate),
            None,
        )

    @property
    def active(self) -> bool:
        """Whether there is agent speech to play (held or not)."""
        return bool(self.queue)

    @property
    def remaining_s(self) -> float:
        """Seconds of agent speech still queued (held or not)."""
        left = sum(len(u.pcm) - u.played_bytes for u in self.queue)
        return max(0, left) / (SAMPLE_RATE * SAMPLE_WIDTH)

    def hold(self) -> None:
        """Pause where it is: :meth:`next_frame` gives silence until :meth:`resume`."""
        self.held = True

    def resume(self) -> None:
        self.held = False

    def enqueue(self, utterance: Utterance) -> None:
        """Queue ``utterance``, resampled once to the line's rate."""
        utterance.line_pcm = resample(utterance.pcm, SAMPLE_RATE, self.line_rate)
        self.queue.append(utterance)

    def next_frame(self) -> tuple[bytes, Utterance | None]:
        """The next block of agent audio (silence when idle) and the utterance it belongs to."""
        played = self.next_played()
        return played.pcm, played.utterance

    def next_played(self) -> PlayedFrame:
        """The next block of agent audio at 16 kHz and at the line's rate (silence when
        idle), and the utterance it belongs to."""
        # Every call's every frame comes here: plain comparisons rather than Utterance.done.
        queue = self.queue
        while queue:  # the first utterance not played to its end (finished ones move on)
            current = queue[0]
            pcm = current.pcm
            length = len(pcm)
            played = current.played_bytes
            if played < length:
                break
            self.finished.append(queue.popleft())
        else:
            return self._silence  # idle
        if self.held:
            return self._silence
        block = self._block_bytes
        end = played + block
        chunk = pcm[played:end]
        if end > length:  # the utterance's last, short frame
            chunk += bytes(end - length)
            end = length
        current.played_bytes = end
        line_rate = self.line_rate
        if line_rate == SAMPLE_RATE:
            line = AudioFrame(chunk)
        else:
            size = self._line_frame_bytes
            at = played // block * size
            piece = current.line_pcm[at : at + size]
            if len(piece) < size:
                piece += bytes(size - len(piece))
            line = AudioFrame(piece, line_rate)
        if end >= length:
            self.finished.append(queue.popleft())
        return PlayedFrame(chunk, line, current)

    def cut(self) -> list[Utterance]:
        """Stop at once (barge-in); returns the utterances dropped or cut."""
        self.held = False
        dropped = list(self.queue)
        self.queue.clear()
        self.finished.extend(dropped)
        return dropped

    def take_finished(self) -> list[Utterance]:
        done, self.finished = self.finished, []
        return done
