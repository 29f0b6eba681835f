"""The Telnyx media-stream codec: messages ⇄ neutral events and 16 kHz audio."""

from __future__ import annotations

import base64
import json
import math

import numpy as np
import pytest

from voxline.telephony.media_events import MediaAudio, MediaDtmf, MediaMark, MediaStart, MediaStop
from voxline.telephony.telnyx.media import (
    WIRE_CHUNK_BYTES,
    MediaProtocolError,
    TelnyxMediaCodec,
    decode_payload,
    encode_payload,
)
from voxline.telephony.telnyx.webhooks import encode_client_state
from voxline.voice.audio import mulaw_to_pcm16, rms_dbfs
from voxline.voice.frames import FRAME_BYTES, AudioFrame, split_frames


def sine(rate: int, seconds: float, freq: float = 440.0, amplitude: int = 8000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * math.pi * freq * t)).astype("<i2").tobytes()


def start_message(**start: object) -> str:
    body = {
        "user_id": "u",
        "call_control_id": "v3:abc",
        "call_session_id": "s",
        "client_state": encode_client_state("call-1"),
        "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        **start,
    }
    return json.dumps(
        {"event": "start", "sequence_number": "1", "stream_id": "st-1", "start": body}
    )


def media_message(pcm8k: bytes, track: str = "inbound") -> str:
    media = {"track": track, "chunk": "2", "timestamp": "5", "payload": encode_payload(pcm8k)}
    return json.dumps(
        {"event": "media", "sequence_number": "4", "stream_id": "st-1", "media": media}
    )


# -- μ-law payloads ---------------------------------------------------------------------


def test_payloads_are_audioop_exact_mulaw() -> None:
    tone = np.array([0, 5657, 8000, 5657, 0, -5657, -8000, -5657], dtype="<i2").tobytes()

    assert base64.b64decode(encode_payload(tone)) == bytes.fromhex("ffa9a0a9ff292029")


def test_every_mulaw_byte_survives_decode_and_encode_except_negative_zero() -> None:
    every = bytes(range(256))
    back = base64.b64decode(encode_payload(decode_payload(base64.b64encode(every).decode())))

    expected = every.replace(b"\x7f", b"\xff")
    assert back == expected


def test_twenty_ms_is_160_bytes_and_216_base64_characters() -> None:
    payload = encode_payload(bytes(2 * WIRE_CHUNK_BYTES))

    assert WIRE_CHUNK_BYTES == 160
    assert len(payload) == 216
    assert base64.b64decode(payload) == b"\xff" * 160  # μ-law digital silence
    assert payload.startswith("////")


# -- Telnyx → Voxline -------------------------------------------------------------------


def test_start_names_the_stream_the_call_and_our_call_id() -> None:
    codec = TelnyxMediaCodec()

    [start] = codec.parse(start_message())

    assert start == MediaStart(stream_id="st-1", provider_call_id="v3:abc", call_id="call-1")
    assert codec.stream_id == "st-1"


def test_a_custom_call_id_parameter_wins_and_no_call_id_is_fine() -> None:
    custom = TelnyxMediaCodec().parse(start_message(custom_parameters={"call_id": "call-2"}))
    bare = TelnyxMediaCodec().parse(start_message(client_state=None))

    assert custom[0] == MediaStart("st-1", "v3:abc", "call-2")
    assert bare[0] == MediaStart("st-1", "v3:abc", None)


@pytest.mark.parametrize(
    "media_format",
    [{"encoding": "L16", "sample_rate": 16000}, {"encoding": "PCMA", "sample_rate": 8000}],
)
def test_a_stream_not_in_8khz_pcmu_is_refused(media_format: dict[str, object]) -> None:
    with pytest.raises(MediaProtocolError, match="unsupported"):
        TelnyxMediaCodec().parse(start_message(media_format=media_format))


def test_caller_audio_becomes_20ms_frames_at_16khz_with_its_energy() -> None:
    codec = TelnyxMediaCodec()
    source = sine(8000, 1.0)
    frames: list[AudioFrame] = []
    for chunk in split_frames(source, 8000):
        for event in codec.parse(media_message(chunk.pcm)):
            assert isinstance(event, MediaAudio)
            frames.append(event.frame)

    assert frames, "a second of audio must come out"
    assert all(f.sample_rate == 16000 and len(f.pcm) == FRAME_BYTES for f in frames)
    heard = b"".join(f.pcm for f in frames)
    assert len(heard) >= 0.8 * 2 * 16000  # the resampler holds back only a short tail
    steady = heard[len(heard) // 4 :]
    assert abs(rms_dbfs(steady) - rms_dbfs(source)) < 0.5


def test_the_outbound_track_echo_is_ignored() -> None:
    codec = TelnyxMediaCodec()

    assert codec.parse(media_message(sine(8000, 0.5), track="outbound")) == []


def test_marks_dtmf_stop_and_other_messages() -> None:
    codec = TelnyxMediaCodec()
    error = {"event": "error", "stream_id": "st-1", "payload": {"code": 100002, "title": "bad"}}

    assert codec.parse('{"event":"connected","version":"1.0.0"}') == []
    assert codec.parse('{"event":"mark","stream_id":"st-1","mark":{"name":"utt-7"}}') == [
        MediaMark("utt-7")
    ]
    assert codec.parse('{"event":"dtmf","stream_id":"st-1","dtmf":{"digit":"#"}}') == [
        MediaDtmf("#")
    ]
    assert codec.parse(json.dumps(error)) == []
    assert codec.last_error == {"code": 100002, "title": "bad"}
    assert codec.parse('{"event":"stop","stop":{"call_control_id":"v3:abc"}}') == [MediaStop()]
    assert codec.parse('{"event":"something_new"}') == []


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1, 2]",
        '{"event":"media","media":{"payload":"***"}}',
        '{"event":"media","media":{}}',
        '{"event":"mark","mark":{}}',
        '{"event":"start","start":{"call_control_id":"v3:x"}}',
    ],
)
def test_malformed_messages_are_protocol_errors(message: str) -> None:
    with pytest.raises(MediaProtocolError):
        TelnyxMediaCodec().parse(message)


# -- Voxline → Telnyx -------------------------------------------------------------------


def payloads(messages: list[str]) -> list[bytes]:
    decoded = [json.loads(m) for m in messages]
    assert all(set(m) == {"event", "media"} and m["event"] == "media" for m in decoded)
    return [base64.b64decode(m["media"]["payload"]) for m in decoded]


def test_agent_audio_is_sent_as_20ms_mulaw_messages_with_its_energy() -> None:
    codec = TelnyxMediaCodec()
    source = sine(16000, 1.0)
    messages = [m for frame in split_frames(source) for m in codec.audio(frame)]
    messages += codec.flush()

    chunks = payloads(messages)
    assert all(len(chunk) == 160 for chunk in chunks)
    sent = mulaw_to_pcm16(b"".join(chunks))
    assert abs(len(sent) / 2 / 8000 - 1.0) <= 0.02
    steady = sent[len(sent) // 4 : 3 * len(sent) // 4]
    assert abs(rms_dbfs(steady) - rms_dbfs(source)) < 0.5


def test_audio_round_trips_through_two_codecs() -> None:
    agent, caller_side = TelnyxMediaCodec(), TelnyxMediaCodec()
    source = sine(16000, 1.0, freq=300)
    out = [m for frame in split_frames(source) for m in agent.audio(frame)] + agent.flush()

    frames = [
        e.frame
        for chunk in payloads(out)
        for e in caller_side.parse(media_message(mulaw_to_pcm16(chunk)))
        if isinstance(e, MediaAudio)
    ]

    heard = b"".join(f.pcm for f in frames)
    assert abs(rms_dbfs(heard[len(heard) // 4 :]) - rms_dbfs(source)) < 1.0


def test_mark_and_clear_messages() -> None:
    codec = TelnyxMediaCodec()

    assert [json.loads(m) for m in codec.mark("utt-7")] == [
        {"event": "mark", "mark": {"name": "utt-7"}}
    ]
    assert json.loads(codec.clear()) == {"event": "clear"}


def test_clear_drops_agent_audio_not_yet_sent() -> None:
    codec = TelnyxMediaCodec()
    for frame in split_frames(sine(16000, 0.5)):
        codec.audio(frame)

    codec.clear()

    assert codec.flush() == []


def test_agent_audio_at_the_wrong_rate_is_refused() -> None:
    # 16 kHz is resampled and the wire's 8 kHz is sent as it is; anything else is an error.
    with pytest.raises(ValueError, match="22050 Hz"):
        TelnyxMediaCodec().audio(AudioFrame(bytes(441 * 2), 22050))
