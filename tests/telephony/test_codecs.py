"""Every provider's media codec offers the same methods, so the media routes need no
per-provider wrapper."""

from __future__ import annotations

import inspect

import pytest

from voxline.telephony.media_events import MediaAudio, MediaStop
from voxline.telephony.plivo.media import PlivoMediaCodec
from voxline.telephony.telnyx.media import TelnyxMediaCodec
from voxline.telephony.twilio.media import TwilioMediaCodec
from voxline.telephony.websocket import MediaCodec

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
