"""The codec of Plivo's audio-stream WebSocket (``reference/telephony.md`` §3.6).

Plivo sends ``start``, ``media`` (base64 μ-law at 8 kHz, as :func:`answer_xml` asks),
``dtmf``, ``playedStream`` (a checkpoint's audio has played) and ``clearedAudio``; there is no
``stop`` message, the stream ends when the socket closes. Voxline sends ``playAudio``,
``checkpoint`` and ``clearAudio``.

Inside Voxline audio is 16 kHz PCM16 in 20 ms frames; this codec converts at the edge. One
:class:`PlivoMediaCodec` serves one stream: it holds the resamplers' state, so chunk edges do
not click, and re-frames both directions into whole 20 ms frames. It does no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from voxline.telephony.media_events import (
    MediaAudio,
    MediaDtmf,
    MediaEvent,
    MediaMark,
    MediaProtocolError,
    MediaStart,
    MediaStop,
    remaining_audio,
)
from voxline.voice.audio import Resampler, mulaw_to_pcm16, pcm16_to_mulaw
from voxline.voice.frames import SAMPLE_RATE, AudioFrame, Framer

CARRIER_RATE = 8000
CONTENT_TYPE = "audio/x-mulaw"
_DIGITS = re.compile(r"[0-9A-D*#]")
_HEX_ID = re.compile(r"[0-9a-fA-F]{32}")
# A playAudio message as json.dumps writes it, either side of its payload.
_PLAY_END = '"}}'
_PLAY_HEAD = json.dumps(
    {
        "event": "playAudio",
        "media": {"contentType": CONTENT_TYPE, "sampleRate": CARRIER_RATE, "payload": ""},
    }
)[: -len(_PLAY_END)]


def _call_id_from(extra_headers: object) -> str | None:
    """Our call id from the ``callId=...`` extra header of ``answer_xml`` (dashes restored)."""
    if not isinstance(extra_headers, str):
        return None
    for pair in extra_headers.split(","):
        key, _, value = pair.strip().partition("=")
        if key == "callId" and value:
            if _HEX_ID.fullmatch(value):
                return "-".join(
                    (value[:8], value[8:12], value[12:16], value[16:20], value[20:])
                ).lower()
            return value
    return None


def encode_ulaw_payload(ulaw: bytes) -> str:
    """Raw μ-law bytes as a ``playAudio`` payload (20 ms = 160 bytes = 216 characters)."""
    return base64.b64encode(ulaw).decode("ascii")


class PlivoMediaCodec:
    """Parse one Plivo stream's messages and build the messages Voxline sends on it."""

    def __init__(self) -> None:
        self.stream_id: str | None = None
        # Agent audio already at this rate skips the outbound resampler (see audio()).
        self.line_rate = CARRIER_RATE
        self._inbound = Resampler(CARRIER_RATE, SAMPLE_RATE)
        self._inbound_frames = Framer(SAMPLE_RATE)
        self._outbound = Resampler(SAMPLE_RATE, CARRIER_RATE)
        self._outbound_frames = Framer(CARRIER_RATE)

    # -- Plivo → Voxline -------------------------------------------------------------------

    def parse(self, text: str | bytes) -> list[MediaEvent]:
        """The neutral events one message carries. Caller audio comes out as whole 16 kHz
        frames (none while the resampler fills); unknown events give nothing.
        Raises :class:`MediaProtocolError` on malformed JSON or a malformed known event."""
        try:
            message = json.loads(text)
        except ValueError:
            raise MediaProtocolError("message is not JSON") from None
        if not isinstance(message, dict):
            raise MediaProtocolError("message is not a JSON object")
        event = message.get("event")
        if event == "start":
            return [self._start(message)]
        if event == "media":
            return self._media(message)
        if event == "dtmf":
            digit = _section(message, "dtmf").get("digit")
            if not isinstance(digit, str) or not _DIGITS.fullmatch(digit):
                raise MediaProtocolError("dtmf without a valid digit")
            return [MediaDtmf(digit)]
        if event == "playedStream":
            name = message.get("name")
            if not isinstance(name, str):
                raise MediaProtocolError("playedStream without a name")
            return [MediaMark(name)]
        if event == "stop":
            # Not in Plivo's documented protocol; accepted so a clean end is never an error.
            return [MediaStop()]
        return []

    def _start(self, message: dict[str, Any]) -> MediaStart:
        start = _section(message, "start")
        stream_id, call_uuid = start.get("streamId"), start.get("callId")
        if not isinstance(stream_id, str) or not isinstance(call_uuid, str):
            raise MediaProtocolError("start without streamId and callId")
        encoding = _section(start, "mediaFormat").get("encoding", CONTENT_TYPE)
        if encoding != CONTENT_TYPE:
            raise MediaProtocolError(f"unsupported stream encoding {encoding}")
        self.stream_id = stream_id
        return MediaStart(stream_id, call_uuid, _call_id_from(message.get("extra_headers")))

    def _media(self, message: dict[str, Any]) -> list[MediaEvent]:
        payload = _section(message, "media").get("payload")
        if not isinstance(payload, str):
            raise MediaProtocolError("media without a payload")
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise MediaProtocolError("media payload is not base64") from None
        pcm = self._inbound.process(mulaw_to_pcm16(ulaw))
        return [MediaAudio(frame) for frame in self._inbound_frames.push(pcm)]

    def finish(self) -> list[MediaEvent]:
        """The caller audio still buffered once the socket closed, then :class:`MediaStop`."""
        return remaining_audio(self._inbound, self._inbound_frames)

    # -- Voxline → Plivo -------------------------------------------------------------------

    def audio(self, frame: AudioFrame) -> list[str]:
        """``playAudio`` messages for agent audio, each one 20 ms of 8 kHz μ-law; the audio
        is 16 kHz (resampled here) or already 8 kHz (sent as it is)."""
        if frame.sample_rate == CARRIER_RATE:
            pcm8k = frame.pcm
        elif frame.sample_rate == SAMPLE_RATE:
            pcm8k = self._outbound.process(frame.pcm)
        else:
            raise ValueError(
                f"agent audio must be {SAMPLE_RATE} or {CARRIER_RATE} Hz, not {frame.sample_rate}"
            )
        frames = self._outbound_frames.push(pcm8k)
        return [self._play_message(f.pcm) for f in frames]

    def flush(self) -> list[str]:
        """The agent audio still buffered (end of an utterance), padded to a whole frame."""
        frames = self._outbound_frames.push(self._outbound.flush())
        last = self._outbound_frames.flush()
        if last is not None:
            frames.append(last)
        return [self._play_message(f.pcm) for f in frames]

    def _play_message(self, pcm8k: bytes) -> str:
        # The string json.dumps makes of the message (base64 has nothing to escape), without
        # encoding it whole 50 times a second.
        return _PLAY_HEAD + encode_ulaw_payload(pcm16_to_mulaw(pcm8k)) + _PLAY_END

    def mark(self, name: str) -> list[str]:
        """Held-back audio, then a ``checkpoint``: Plivo answers ``playedStream`` named
        ``name`` once the audio sent before it has played."""
        checkpoint = {"event": "checkpoint", "streamId": self._stream(), "name": name}
        return [*self.flush(), json.dumps(checkpoint)]

    def clear(self) -> str:
        """Drop the agent audio Plivo has queued (barge-in); buffered audio here goes too."""
        self._outbound_frames.flush()
        self._outbound = Resampler(SAMPLE_RATE, CARRIER_RATE)
        return json.dumps({"event": "clearAudio", "streamId": self._stream()})

    def _stream(self) -> str:
        if self.stream_id is None:
            raise MediaProtocolError("no start message has named the stream yet")
        return self.stream_id


def _section(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise MediaProtocolError(f"message without a {key} object")
    return value
