"""Pairing the two directions of a call's audio into the chunks of a stereo recording."""

from __future__ import annotations

from typing import Protocol


class Recording(Protocol):
    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None: ...


class Aligner:
    """Pairs the two directions of audio into equal chunks for a stereo recording."""

    def __init__(self, recording: Recording | None) -> None:
        self._recording = recording
        self._agent = bytearray()
        self._contact = bytearray()
        # Audio seen so far on each channel (bytes): a channel's position on the recording.
        self.agent_bytes = 0
        self.contact_bytes = 0

    def agent(self, pcm: bytes) -> None:
        self.agent_bytes += len(pcm)
        self._agent += pcm
        self._flush()

    def contact(self, pcm: bytes) -> None:
        self.contact_bytes += len(pcm)
        self._contact += pcm
        self._flush()

    def _flush(self) -> None:
        ready = min(len(self._agent), len(self._contact))
        if ready and self._recording is not None:
            self._recording.write(bytes(self._agent[:ready]), bytes(self._contact[:ready]))
        del self._agent[:ready]
        del self._contact[:ready]

    def close(self) -> None:
        if self._recording is not None and (self._agent or self._contact):
            size = max(len(self._agent), len(self._contact))
            self._recording.write(
                bytes(self._agent.ljust(size, b"\0")), bytes(self._contact.ljust(size, b"\0"))
            )
        self._agent.clear()
        self._contact.clear()
