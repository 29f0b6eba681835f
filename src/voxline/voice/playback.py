"""The agent's outgoing speech: a queue of utterances played frame by frame.

It knows how much of each utterance was actually played, so a turn cut short by barge-in is
kept in the transcript only as far as the contact heard it. Playback can be held (silence is
sent, nothing is dropped) while the contact's speech over it is judged, then resumed or cut.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from voxline.voice.frames import FRAME_BYTES


@dataclass
class Utterance:
    """One stretch of agent speech (a clause or sentence) with its text."""

    turn: int
    text: str
    pcm: bytes
    played_bytes: int = 0

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


@dataclass
class Playback:
    queue: deque[Utterance] = field(default_factory=deque)
    finished: list[Utterance] = field(default_factory=list)
    held: bool = False

    @property
    def active(self) -> bool:
        """Whether there is agent speech to play (held or not)."""
        return bool(self.queue)

    @property
    def remaining_s(self) -> float:
        """Seconds of agent speech still queued (held or not)."""
        left = sum(len(u.pcm) - u.played_bytes for u in self.queue)
        return max(0, left) / (FRAME_BYTES * 50)

    def hold(self) -> None:
        """Pause where it is: :meth:`next_frame` gives silence until :meth:`resume`."""
        self.held = True

    def resume(self) -> None:
        self.held = False

    def enqueue(self, utterance: Utterance) -> None:
        self.queue.append(utterance)

    def next_frame(self) -> tuple[bytes, Utterance | None]:
        """The next 20 ms of agent audio (silence when idle or held) and the utterance it
        belongs to (None for silence)."""
        while self.queue and self.queue[0].done:
            self.finished.append(self.queue.popleft())
        if not self.queue or self.held:
            return bytes(FRAME_BYTES), None
        current = self.queue[0]
        chunk = current.pcm[current.played_bytes : current.played_bytes + FRAME_BYTES]
        current.played_bytes += len(chunk)
        if len(chunk) < FRAME_BYTES:
            chunk += bytes(FRAME_BYTES - len(chunk))
        if current.done:
            self.finished.append(self.queue.popleft())
        return chunk, current

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
