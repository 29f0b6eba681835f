"""Pairing the two directions of a call's audio into the chunks of a stereo recording."""

from __future__ import annotations

from typing import Protocol

# 16 kHz PCM16 mono: 32 bytes a millisecond.
_SAMPLE_BYTES = 2
_BYTES_PER_MS = 32
# Agent audio held before the channels are anchored, and the lead left as jitter.
_ANCHOR_BYTES = 200 * _BYTES_PER_MS
_SLACK_BYTES = 40 * _BYTES_PER_MS


class Recording(Protocol):
    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None: ...


class Aligner:
    """Pairs the two directions of audio into equal chunks for a stereo recording.

    Both directions flow at 20 ms a frame once the call runs, so pairing them byte for byte
    keeps them in step, provided they start together. They may not: the contact's audio that
    queued up on the line before the session began listening (while it got ready) is read in
    one burst at the start, and would put the contact's channel ahead of the agent's by that
    much for the whole call, so every gap measured on the recording would be short by it.
    So the first ``anchor_bytes`` of agent audio are held; then a contact's lead of more than
    ``slack_bytes`` (a frame or two of scheduling jitter) is put before them as silence: that
    audio was heard before the agent's first frame. ``agent_bytes`` counts that silence too,
    so both counters are positions on the recording.
    """

    def __init__(
        self,
        recording: Recording | None,
        *,
        anchor_bytes: int = _ANCHOR_BYTES,
        slack_bytes: int = _SLACK_BYTES,
    ) -> None:
        self._recording = recording
        self._agent = bytearray()
        self._contact = bytearray()
        # Audio seen so far on each channel (bytes): a channel's position on the recording.
        self.agent_bytes = 0
        self.contact_bytes = 0
        self._anchor_bytes = anchor_bytes
        self._slack_bytes = slack_bytes
        self._anchored = anchor_bytes <= 0
        # Silence put before the agent's first frame (the contact's lead at the start).
        self.lead_bytes = 0

    def agent(self, pcm: bytes) -> None:
        self.agent_bytes += len(pcm)
        self._agent += pcm
        if not self._anchored and self.agent_bytes >= self._anchor_bytes:
            self._anchor()
        self._flush()

    def contact(self, pcm: bytes) -> None:
        self.contact_bytes += len(pcm)
        self._contact += pcm
        self._flush()

    def _anchor(self) -> None:
        self._anchored = True
        lead = self.contact_bytes - self.agent_bytes
        if lead > self._slack_bytes:
            lead -= lead % _SAMPLE_BYTES
            self.lead_bytes = lead
            self.agent_bytes += lead
            self._agent[:0] = bytes(lead)

    def _flush(self) -> None:
        if not self._anchored:
            return
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
