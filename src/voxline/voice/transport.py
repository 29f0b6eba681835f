"""The media port a live call's session talks to: 20 ms frames in; 20 ms frames, or blocks of
them (the session's ``media_block_ms``), out.

A transport is the sandbox's audio line or a provider's media WebSocket. Audio crossing it
is 16 kHz PCM16 (:mod:`voxline.voice.frames`); provider transports convert to and from
8 kHz μ-law at their edge; agent audio may also cross it at the line's own rate
(``line_rate``), resampled once per utterance by the session's playback.
"""

from __future__ import annotations

from typing import Protocol

from voxline.voice.frames import AudioFrame


class MediaTransport(Protocol):
    @property
    def line_rate(self) -> int:
        """The rate the line itself carries (a carrier's 8 kHz, or 16 kHz): the session
        may send agent frames at this rate instead of 16 kHz, already resampled."""

    async def receive(self) -> AudioFrame:
        """The contact's next frame, in real time; raises ``LineClosed`` once the call ended."""

    async def send(self, frame: AudioFrame) -> None:
        """Play one agent frame of 20 ms, or a block of them, at 16 kHz or at
        :attr:`line_rate` (the session sends one every 20 ms, or every block)."""

    async def clear(self) -> None:
        """Drop agent audio buffered on the far side (barge-in)."""

    def hangup(self, by: str) -> None:
        """End the call."""

    @property
    def closed(self) -> bool: ...
