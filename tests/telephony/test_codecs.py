"""Every provider's media codec offers the same methods, so the media routes need no
per-provider wrapper."""

from __future__ import annotations

import base64
import inspect
import json

import numpy as np
import pytest

from voxline.telephony.media_events import MediaAudio, MediaStop
from voxline.telephony.plivo.media import PlivoMediaCodec
from voxline.telephony.telnyx.media import TelnyxMediaCodec
from voxline.telephony.twilio.media import TwilioMediaCodec
from voxline.telephony.websocket import MediaCodec
from voxline.voice.audio import pcm16_to_mulaw
from voxline.voice.frames import AudioFrame

CODECS = [TwilioMediaCodec, TelnyxMediaCodec, PlivoMediaCodec]


def _public(kind: type) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(kind, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_port_names_every_method_a_codec_has() -> None:
    port = _public(MediaCodec)
    assert port == {"parse", "finish", "audio", "flush", "mark", "clear"}
    for codec in CODECS:
        assert _public(codec) == port, codec.__name__


@pytest.mark.parametrize("codec", CODECS, ids=lambda kind: kind.__name__)
def test_finishing_a_stream_that_carried_no_audio_is_just_its_stop(codec: type) -> None:
    events = codec().finish()
    assert events == [MediaStop()]
    assert not any(isinstance(event, MediaAudio) for event in events)


def _started(kind: type) -> MediaCodec:
    codec = kind()
    if isinstance(codec, TwilioMediaCodec):
        codec.stream_sid = "MZ" + "0" * 32  # as its start message would set it
    return codec


@pytest.mark.parametrize("codec", CODECS, ids=lambda kind: kind.__name__)
def test_agent_audio_at_the_wire_rate_is_sent_as_it_is(codec: type) -> None:
    # 20 ms of 8 kHz audio already resampled by the session's playback: one message whose
    # payload is exactly its μ-law, with nothing held back for the outbound resampler.
    media = _started(codec)
    assert media.line_rate == 8000
    pcm = (np.sin(np.arange(160) / 3) * 8000).astype("<i2").tobytes()
    messages = media.audio(AudioFrame(pcm, 8000))
    assert len(messages) == 1
    payload = json.loads(messages[0])["media"]["payload"]
    assert base64.b64decode(payload) == pcm16_to_mulaw(pcm)
    assert media.flush() == []


@pytest.mark.parametrize("codec", CODECS, ids=lambda kind: kind.__name__)
def test_agent_audio_at_another_rate_is_refused(codec: type) -> None:
    with pytest.raises(ValueError, match="Hz"):
        _started(codec).audio(AudioFrame(bytes(441 * 2), 22050))


@pytest.mark.parametrize("codec", CODECS, ids=lambda kind: kind.__name__)
def test_a_media_message_is_the_text_json_dumps_makes_of_it(codec: type) -> None:
    # The messages are assembled around their payload; the text must be json.dumps' own,
    # key order and escapes included (a stream id with a quote and a non-ASCII letter).
    media = _started(codec)
    if isinstance(media, TwilioMediaCodec):
        media.stream_sid = 'MZ"é\\' + "0" * 28
    pcm = (np.sin(np.arange(480) / 3) * 8000).astype("<i2").tobytes()
    messages = media.audio(AudioFrame(pcm, 8000))
    if isinstance(media, TwilioMediaCodec):
        media.stream_sid = "MZ" + "1" * 32  # a new stream: a new envelope
        messages += media.audio(AudioFrame(pcm[:320], 8000))
    assert len(messages) == (4 if isinstance(media, TwilioMediaCodec) else 3)
    for message in messages:
        assert message == json.dumps(json.loads(message))
    payloads = [base64.b64decode(json.loads(m)["media"]["payload"]) for m in messages]
    assert b"".join(payloads[:3]) == pcm16_to_mulaw(pcm)
    if isinstance(media, TwilioMediaCodec):
        assert json.loads(messages[-1])["streamSid"] == "MZ" + "1" * 32
