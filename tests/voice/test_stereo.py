"""Pairing the call's two directions into a stereo recording, in step from the first frame."""

from __future__ import annotations

from voxline.voice.stereo import Aligner

FRAME = 640  # 20 ms of 16 kHz PCM16


class Chunks:
    def __init__(self) -> None:
        self.agent = bytearray()
        self.contact = bytearray()

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None:
        assert len(agent_pcm) == len(contact_pcm)
        self.agent += agent_pcm
        self.contact += contact_pcm


def frame(marker: int) -> bytes:
    return bytes([marker, 0]) * (FRAME // 2)


def test_a_contact_backlog_read_at_the_start_is_put_before_the_agents_first_frame() -> None:
    recording = Chunks()
    aligner = Aligner(recording)
    for _ in range(20):  # 400 ms the line held before the session listened
        aligner.contact(frame(1))
    for tick in range(50):
        aligner.agent(frame(2 if tick == 0 else 3))
        aligner.contact(frame(4 if tick == 0 else 1))
    aligner.close()
    assert aligner.lead_bytes > 0
    # The agent's first frame sits beside the contact's first frame read after the backlog,
    # give or take the jitter left in (40 ms).
    agent_first = recording.agent.index(bytes([2, 0]))
    contact_first = recording.contact.index(bytes([4, 0]))
    assert abs(agent_first - contact_first) <= 40 * 32
    assert aligner.agent_bytes - aligner.contact_bytes <= 40 * 32


def test_channels_that_start_together_are_paired_as_they_come() -> None:
    recording = Chunks()
    aligner = Aligner(recording)
    for tick in range(50):
        aligner.agent(frame(2 if tick == 0 else 3))
        aligner.contact(frame(4 if tick == 0 else 1))
    aligner.close()
    assert aligner.lead_bytes == 0
    assert recording.agent.index(bytes([2, 0])) == recording.contact.index(bytes([4, 0])) == 0
    assert len(recording.agent) == 50 * FRAME


def test_without_anchoring_a_backlog_puts_the_contact_ahead() -> None:
    recording = Chunks()
    aligner = Aligner(recording, anchor_bytes=0)
    for _ in range(20):
        aligner.contact(frame(1))
    for tick in range(50):
        aligner.agent(frame(2 if tick == 0 else 3))
        aligner.contact(frame(4 if tick == 0 else 1))
    aligner.close()
    contact_first = recording.contact.index(bytes([4, 0]))
    assert contact_first - recording.agent.index(bytes([2, 0])) == 20 * FRAME
