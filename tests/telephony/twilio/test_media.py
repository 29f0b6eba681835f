"""The Twilio Media Streams codec: parsing Twilio's messages and building ours."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from voxline.telephony.media_events import (
    MediaAudio,
    MediaDtmf,
    MediaMark,
    MediaStart,
    MediaStop,
)
from voxline.telephony.twilio.media import MediaProtocolError, TwilioMediaCodec
from voxline.voice.audio import mulaw_to_pcm16, pcm16_to_mulaw, rms_dbfs
from voxline.voice.frames import FRAME_BYTES, AudioFrame, split_frames

STREAM = "MZ" + "a" * 32
CALL = "CA" + "b" * 32


def _start(custom: dict[str, str] | None = None) -> str:
    start = {
        "accountSid": "AC" + "c" * 32,
        "streamSid": STREAM,
        "callSid": CALL,
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": custom if custom is not None else {"call_id": "call-1"},
    }
    return json.dumps(
        {"event": "start", "sequenceNumber": "1", "streamSid": STREAM, "start": start}
    )


def _media(ulaw: bytes, track: str = "inbound", chunk: int = 1) -> str:
    media = {
        "track": track,
        "chunk": str(chunk),
        "timestamp": str(20 * chunk),
        "payload": base64.b64encode(ulaw).decode(),
    }
    return json.dumps(
        {"event": "media", "sequenceNumber": "2", "streamSid": STREAM, "media": media}
    )


def _sine(seconds: float, rate: int, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()


def _started() -> TwilioMediaCodec:
    codec = TwilioMediaCodec()
    codec.parse(_start())
    return codec


def test_start_reports_stream_call_and_our_call_id() -> None:
    codec = TwilioMediaCodec()

    assert codec.parse(_start()) == [MediaStart(STREAM, CALL, "call-1")]
    assert codec.stream_sid == STREAM


def test_start_without_custom_parameters_has_no_call_id() -> None:
    assert TwilioMediaCodec().parse(_start({})) == [MediaStart(STREAM, CALL, None)]


def test_start_carries_the_media_token_custom_parameter() -> None:
    parsed = TwilioMediaCodec().parse(_start({"call_id": "call-1", "token": "v1.9.sig"}))
    assert parsed == [MediaStart(STREAM, CALL, "call-1", token="v1.9.sig")]


def test_a_token_that_is_not_text_is_no_token() -> None:
    parsed = TwilioMediaCodec().parse(_start({"call_id": "call-1", "token": 7}))  # type: ignore[dict-item]
    assert parsed == [MediaStart(STREAM, CALL, "call-1", token=None)]


def test_connected_and_unknown_events_yield_nothing() -> None:
    codec = TwilioMediaCodec()

    assert codec.parse('{"event":"connected","protocol":"Call","version":"1.0.0"}') == []
    assert codec.parse('{"event":"something-new"}') == []


def test_mark_dtmf_and_stop_are_parsed() -> None:
    codec = _started()
    mark = {"event": "mark", "sequenceNumber": "6", "streamSid": STREAM, "mark": {"name": "u-7"}}
    dtmf = {"event": "dtmf", "streamSid": STREAM, "dtmf": {"track": "inbound_track", "digit": "#"}}
    stop = {"event": "stop", "streamSid": STREAM, "stop": {"accountSid": "AC", "callSid": CALL}}

    assert codec.parse(json.dumps(mark)) == [MediaMark("u-7")]
    assert codec.parse(json.dumps(dtmf)) == [MediaDtmf("#")]
    assert codec.parse(json.dumps(stop)) == [MediaStop()]


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2]",
        '{"event":"start","start":{"callSid":"CA1"}}',
        '{"event":"media","media":{"payload":"***"}}',
        '{"event":"media","media":{}}',
        '{"event":"mark","mark":{}}',
        '{"event":"dtmf"}',
    ],
)
def test_malformed_messages_raise_protocol_errors(text: str) -> None:
    with pytest.raises(MediaProtocolError):
        _started().parse(text)


def test_inbound_media_becomes_16k_frames_of_20ms() -> None:
    codec = _started()
    ulaw = pcm16_to_mulaw(_sine(1.0, 8000))

    frames = []
    for index in range(0, len(ulaw), 160):
        for event in codec.parse(_media(ulaw[index : index + 160], chunk=index // 160 + 1)):
            assert isinstance(event, MediaAudio)
            frames.append(event.frame)

    assert all(f.sample_rate == 16000 and len(f.pcm) == FRAME_BYTES for f in frames)
    # The resampler holds back a few ms of filter delay; nearly all of the second arrives.
    assert 45 <= len(frames) <= 50
    pcm = b"".join(f.pcm for f in frames)
    assert abs(rms_dbfs(pcm[FRAME_BYTES * 5 :]) - rms_dbfs(_sine(1.0, 16000))) < 0.5


def test_outbound_track_media_is_ignored() -> None:
    assert _started().parse(_media(b"\xff" * 160, track="outbound")) == []


def test_mulaw_round_trip_is_exact_through_the_codec() -> None:
    """Every μ-law byte except 0x7F (negative zero) survives decode then encode unchanged."""
    every_byte = bytes(range(256))
    back = pcm16_to_mulaw(mulaw_to_pcm16(every_byte))

    assert back == every_byte.replace(b"\x7f", b"\xff")
    # 20 ms of digital silence is 160 bytes of 0xFF, 216 characters of base64.
    encoded = base64.b64encode(pcm16_to_mulaw(bytes(320))).decode()
    assert len(encoded) == 216 and encoded == "/" * 212 + "/w=="
    assert pcm16_to_mulaw(
        np.array([0, 5657, 8000, 5657, 0, -5657, -8000, -5657], "<i2").tobytes()
    ) == bytes.fromhex("ffa9a0a9ff292029")


def _payloads(messages: list[str]) -> list[bytes]:
    out = []
    for text in messages:
        message = json.loads(text)
        assert message["event"] == "media" and message["streamSid"] == STREAM
        out.append(base64.b64decode(message["media"]["payload"]))
    return out


def test_agent_audio_goes_out_as_20ms_mulaw_messages() -> None:
    codec = _started()
    messages: list[str] = []
    for frame in split_frames(_sine(1.0, 16000)):
        messages += codec.audio(frame)

    payloads = _payloads(messages)
    assert all(len(p) == 160 for p in payloads)
    assert all(len(json.loads(m)["media"]["payload"]) == 216 for m in messages)
    assert 45 <= len(payloads) <= 50


def test_sine_keeps_its_energy_through_encode_and_decode() -> None:
    sender, receiver = _started(), _started()
    tone = _sine(1.0, 16000)
    messages: list[str] = []
    for frame in split_frames(tone):
        messages += sender.audio(frame)
    messages += sender.flush()

    frames = []
    for payload in _payloads(messages):
        frames += [e.frame for e in receiver.parse(_media(payload)) if isinstance(e, MediaAudio)]

    received = b"".join(f.pcm for f in frames)
    assert abs(rms_dbfs(received[FRAME_BYTES * 5 :]) - rms_dbfs(tone)) < 0.5


def test_silence_stays_silent() -> None:
    codec = _started()
    messages: list[str] = []
    for _ in range(20):
        messages += codec.audio(AudioFrame(bytes(FRAME_BYTES)))
    messages += codec.flush()

    payloads = _payloads(messages)
    assert len(payloads) >= 19
    # The resampler may round to -1 (0x7E) here and there; that is still silence.
    assert all(set(p) <= {0xFF, 0x7E} for p in payloads)
    assert rms_dbfs(mulaw_to_pcm16(b"".join(payloads))) < -80


def test_mark_flushes_pending_audio_first() -> None:
    codec = _started()
    held = codec.audio(AudioFrame(_sine(0.03, 16000)))  # 30 ms, partly held back

    messages = codec.mark("utt-7")

    events = [json.loads(m)["event"] for m in messages]
    assert events[-1] == "mark" and set(events[:-1]) == {"media"}
    sent = sum(len(p) for p in _payloads(held + messages[:-1]))
    assert abs(sent - 240) <= 8  # 30 ms at 8 kHz, give or take the filter's edges
    assert json.loads(messages[-1]) == {
        "event": "mark",
        "streamSid": STREAM,
        "mark": {"name": "utt-7"},
    }
    assert codec.mark("again") == [
        json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": "again"}})
    ]


def test_clear_drops_pending_audio() -> None:
    codec = _started()
    codec.audio(AudioFrame(_sine(0.03, 16000)))

    assert json.loads(codec.clear()) == {"event": "clear", "streamSid": STREAM}
    assert codec.flush() == []


def test_sending_before_start_is_an_error() -> None:
    with pytest.raises(MediaProtocolError):
        TwilioMediaCodec().clear()


def test_agent_audio_at_another_rate_is_refused() -> None:
    # 16 kHz is resampled and the wire's 8 kHz is sent as it is; anything else is an error.
    with pytest.raises(ValueError):
        _started().audio(AudioFrame(bytes(441 * 2), sample_rate=22050))
