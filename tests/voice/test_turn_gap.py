from __future__ import annotations

import numpy as np
import pytest

from voxline.voice.turn_gap import (
    BLOCK_BYTES,
    ContactTail,
    TurnMarks,
    WireMeter,
    audible_blocks,
    leading_quiet_ms,
)


def tone(ms: int, level: float = 0.3) -> bytes:
    samples = np.arange(ms * 16) / 16000
    wave = level * 32767 * np.sin(2 * np.pi * 440 * samples)
    return wave.astype("<i2").tobytes()


def quiet(ms: int) -> bytes:
    return bytes(ms * 32)


class Sink:
    def __init__(self) -> None:
        self.written = 0

    def write(self, agent_pcm: bytes, contact_pcm: bytes) -> None:
        self.written += len(agent_pcm)


def test_audible_blocks_tell_speech_from_silence_and_faint_noise() -> None:
    faint = tone(30, level=0.001)  # about -63 dBFS
    assert audible_blocks(tone(30) + quiet(20) + faint).tolist() == [True] * 3 + [False] * 5
    assert leading_quiet_ms(quiet(120) + tone(50)) == 120.0
    assert leading_quiet_ms(tone(50)) == 0.0
    assert leading_quiet_ms(quiet(40)) == 40.0


def test_the_meter_measures_the_gap_on_the_recorded_channels() -> None:
    sink = Sink()
    meter = WireMeter(sink)
    contact = tone(500) + quiet(1300)
    agent = quiet(1000) + tone(800)
    # Written in uneven chunks, as the Aligner pairs them.
    for start in range(0, len(agent), 700):
        meter.write(agent[start : start + 700], contact[start : start + 700])
    assert sink.written == len(agent)  # the real recording still gets everything
    assert meter.gap(1000.0) == 500.0
    assert meter.gap(900.0) == 500.0  # the first audible agent block after the turn began
    assert meter.gap(1800.0) is None  # no agent audio after the end
    assert meter.gap(0.0, within_ms=500) is None  # nothing audible within reach


def test_no_gap_when_the_agent_talks_over_the_contact() -> None:
    meter = WireMeter()
    meter.write(quiet(200) + tone(300), tone(400) + quiet(100))
    assert meter.gap(0.0) is None


def test_the_contact_tail_follows_the_last_audible_block() -> None:
    tail = ContactTail()
    assert tail.last_audible_ms is None
    for chunk in (tone(40), quiet(20), tone(20), quiet(BLOCK_BYTES // 32 + 95)):
        tail.feed(chunk)
    assert tail.last_audible_ms == 80.0
    assert tail.received_ms == pytest.approx(185.0)


def test_the_stages_add_up_to_the_recorded_gap() -> None:
    # Contact audible until 1000 ms; the VAD stopped at 1260 ms of contact audio with 8 ms
    # not yet in a window, its last voiced window having ended 224 ms before.
    marks = TurnMarks(
        stopped_at=10.0,
        contact_at_ms=1260.0,
        agent_at_stop_ms=1240.0,
        last_audible_ms=1000.0,
        vad_wait_ms=224.0,
        vad_frame_ms=8.0,
    )
    marks.confirmed_at = 10.1
    marks.stt_started_at = 10.1
    marks.stt_done_at = 10.5
    marks.first_clause_at = 10.51
    marks.queued_at = 10.53
    marks.tts_lead_ms = 40.0
    latency = marks.settle(played_at=10.55, agent_at_ms=1780.0)
    assert latency.vad_lag_ms == pytest.approx(28.0)
    assert latency.eot_wait_ms == pytest.approx(100.0)
    assert latency.stt_ms == pytest.approx(400.0)
    assert latency.alignment_ms == pytest.approx(-20.0)
    assert latency.clock_drift_ms == pytest.approx(-10.0)
    # The agent's first sound is at 1780 + 40 ms of the recording, the contact's last at 1000.
    assert latency.total_ms == pytest.approx(820.0)
    assert latency.as_json()["total_ms"] == 820.0
