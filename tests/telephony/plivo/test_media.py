"""The Plivo media-stream codec: Plivo's JSON messages ⇄ 16 kHz PCM16 frames."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from voxline.telephony.media_events import (
    MediaAudio,
    MediaDtmf,
    MediaMark,
    MediaStart,
    MediaStop,
)
from voxline.telephony.plivo.media import MediaProtocolError, PlivoMediaCodec, encode_ulaw_payload
from voxline.telephony.plivo.webhooks import stream_headers
from voxline.voice.audio import mulaw_to_pcm16, pcm16_to_mulaw, rms_dbfs
from voxline.voice.frames import FRAME_BYTES, AudioFrame, split_frames

STREAM_ID = "b3f1e0a2-7c1d-4e2f-9a3b-5c6d7e8f9a0b"
CALL_UUID = "9834029e-58b6-11e1-b8b7-a5bd0e4e126f"
CALL_ID = "3f2a6c1e-0000-4000-8000-000000000001"


def _start(extra_headers: str | None = None) -> str:
    message: dict[str, object] = {
        "event": "start",
        "sequenceNumber": 1,
        "start": {
            "callId": CALL_UUID,
            "streamId": STREAM_ID,
            "accountId": "MAEMULATOR000000PLIV",
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
    }
    if extra_headers is not None:
        message["extra_headers"] = extra_headers
    return json.dumps(message)


def _media(ulaw: bytes, chunk: int = 1) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": chunk + 1,
            "streamId": STREAM_ID,
            "media": {
                "track": "inbound",
                "timestamp": "1705312200000",
                "chunk": chunk,
                "payload": base64.b64encode(ulaw).decode(),
            },
        }
    )


def _sine(rate: int, seconds: float, hz: float = 1000.0, amplitude: float = 8000.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes()


def _dominant_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


# -- μ-law ---------------------------------------------------------------------------------------


def test_ulaw_matches_the_reference_vector_and_round_trips() -> None:
    tone = np.array([0, 5657, 8000, 5657, 0, -5657, -8000, -5657], dtype="<i2").tobytes()
    assert pcm16_to_mulaw(tone) == bytes.fromhex("ffa9a0a9ff292029")
    every_byte = bytes(range(256))
    expected = every_byte.replace(b"\x7f", b"\xff")  # negative zero comes back as zero
    assert pcm16_to_mulaw(mulaw_to_pcm16(every_byte)) == expected


def test_twenty_ms_of_ulaw_is_a_216_character_payload() -> None:
    payload = encode_ulaw_payload(b"\xff" * 160)
    assert len(payload) == 216
    assert payload == "/" * 213 + "w=="


# -- Plivo → Voxline -----------------------------------------------------------------------------


def test_start_names_the_stream_and_our_call_id() -> None:
    codec = PlivoMediaCodec()
    [event] = codec.parse(_start(stream_headers(CALL_ID)))
    assert event == MediaStart(STREAM_ID, CALL_UUID, CALL_ID)
    assert codec.stream_id == STREAM_ID
    assert PlivoMediaCodec().parse(_start()) == [MediaStart(STREAM_ID, CALL_UUID, None)]


def test_start_with_l16_audio_is_refused() -> None:
    message = json.loads(_start())
    message["start"]["mediaFormat"]["encoding"] = "audio/x-l16"
    with pytest.raises(MediaProtocolError):
        PlivoMediaCodec().parse(json.dumps(message))


def test_caller_sine_becomes_16khz_frames_with_its_energy() -> None:
    codec = PlivoMediaCodec()
    codec.parse(_start())
    ulaw = pcm16_to_mulaw(_sine(8000, 1.0))
    events = []
    for chunk, start in enumerate(range(0, len(ulaw), 160)):
        events += codec.parse(_media(ulaw[start : start + 160], chunk))
    events += codec.finish()

    assert isinstance(events[-1], MediaStop)
    frames = [e.frame for e in events if isinstance(e, MediaAudio)]
    assert all(f.sample_rate == 16000 and len(f.pcm) == FRAME_BYTES for f in frames)
    pcm = b"".join(f.pcm for f in frames)
    assert abs(len(pcm) / 32000 - 1.0) <= 0.04
    assert rms_dbfs(pcm) == pytest.approx(rms_dbfs(_sine(16000, 1.0)), abs=0.5)
    assert _dominant_hz(pcm, 16000) == pytest.approx(1000, abs=5)


def test_dtmf_checkpoint_echo_and_other_events() -> None:
    codec = PlivoMediaCodec()
    dtmf = {"event": "dtmf", "streamId": STREAM_ID, "dtmf": {"track": "inbound", "digit": "5"}}
    played = {"event": "playedStream", "sequenceNumber": 60, "streamId": STREAM_ID, "name": "u7"}
    assert codec.parse(json.dumps(dtmf)) == [MediaDtmf("5")]
    assert codec.parse(json.dumps(played)) == [MediaMark("u7")]
    assert codec.parse(json.dumps({"event": "clearedAudio", "streamId": STREAM_ID})) == []
    assert codec.parse(json.dumps({"event": "somethingNew"})) == []
    assert codec.parse(json.dumps({"event": "stop"})) == [MediaStop()]


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1, 2]",
        json.dumps({"event": "media", "media": {"payload": "***"}}),
        json.dumps({"event": "media"}),
        json.dumps({"event": "dtmf", "dtmf": {"digit": "55"}}),
        json.dumps({"event": "playedStream"}),
        json.dumps({"event": "start", "start": {"streamId": STREAM_ID}}),
    ],
)
def test_malformed_messages_raise(message: str) -> None:
    with pytest.raises(MediaProtocolError):
        PlivoMediaCodec().parse(message)


# -- Voxline → Plivo -----------------------------------------------------------------------------


def _payloads(messages: list[str]) -> list[bytes]:
    decoded = [json.loads(m) for m in messages]
    for message in decoded:
        assert message["event"] == "playAudio"
        assert message["media"]["contentType"] == "audio/x-mulaw"
        assert message["media"]["sampleRate"] == 8000
        assert len(message["media"]["payload"]) == 216
    return [base64.b64decode(m["media"]["payload"]) for m in decoded]


def test_agent_sine_goes_out_as_20ms_ulaw_and_keeps_its_energy() -> None:
    codec = PlivoMediaCodec()
    messages: list[str] = []
    for frame in split_frames(_sine(16000, 1.0)):
        messages += codec.audio(frame)
    messages += codec.flush()

    payloads = _payloads(messages)
    assert all(len(p) == 160 for p in payloads)
    pcm8k = mulaw_to_pcm16(b"".join(payloads))
    assert abs(len(pcm8k) / 16000 - 1.0) <= 0.04
    assert rms_dbfs(pcm8k) == pytest.approx(rms_dbfs(_sine(8000, 1.0)), abs=0.5)
    assert _dominant_hz(pcm8k, 8000) == pytest.approx(1000, abs=5)


def test_agent_audio_must_be_16khz_or_the_wire_s_8khz() -> None:
    with pytest.raises(ValueError):
        PlivoMediaCodec().audio(AudioFrame(bytes(441 * 2), 22050))


def test_checkpoint_and_clear_name_the_stream() -> None:
    codec = PlivoMediaCodec()
    with pytest.raises(MediaProtocolError):
        codec.mark("u1")
    codec.parse(_start())
    [checkpoint] = codec.mark("u1")
    assert json.loads(checkpoint) == {"event": "checkpoint", "streamId": STREAM_ID, "name": "u1"}
    assert json.loads(codec.clear()) == {"event": "clearAudio", "streamId": STREAM_ID}


def test_a_checkpoint_follows_the_audio_still_buffered() -> None:
    codec = PlivoMediaCodec()
    codec.parse(_start())
    for frame in split_frames(_sine(16000, 0.05)):
        codec.audio(frame)
    *audio, checkpoint = codec.mark("u2")
    assert audio and all(json.loads(m)["event"] == "playAudio" for m in audio)
    assert json.loads(checkpoint)["event"] == "checkpoint"
    assert codec.flush() == []


def test_clear_drops_agent_audio_still_buffered() -> None:
    codec = PlivoMediaCodec()
    codec.parse(_start())
    for frame in split_frames(_sine(16000, 0.05)):
        codec.audio(frame)
    codec.clear()
    assert codec.flush() == []
