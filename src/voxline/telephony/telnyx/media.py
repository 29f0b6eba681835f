"""The codec of Telnyx media-streaming WebSocket messages (``reference/telephony.md`` §2.6).

Telnyx sends JSON text frames; ``stream_id`` sits at the top level and the call's
``call_control_id`` inside ``start``. Voxline asks for PCMU both ways (``stream_codec`` and
``stream_bidirectional_codec``, with ``stream_bidirectional_mode: rtp``), so audio payloads
are base64 G.711 μ-law at 8 kHz. Voxline works in 16 kHz PCM16 frames of 20 ms.

:class:`TelnyxMediaCodec` converts both ways for one stream and does no I/O. It is stateful
on purpose: the resamplers carry their filter across chunks (20 ms pieces don't click at
the edges), incoming audio is re-cut into exact 20 ms frames and outgoing audio into exact
20 ms messages.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from voxline.telephony.media_events import (
    MediaAudio,
    MediaDtmf,
    MediaEvent,
    MediaMark,
    MediaProtocolError,
    MediaStart,
    MediaStop,
    json_object,
    json_text,
    remaining_audio,
)
from voxline.telephony.telnyx.webhooks import decode_client_state
from voxline.voice.audio import Resampler, mulaw_to_pcm16, pcm16_to_mulaw
from voxline.voice.frames import SAMPLE_RATE, AudioFrame, Framer

WIRE_RATE = 8000
WIRE_ENCODING = "PCMU"
# 20 ms of 8 kHz μ-law, one byte per sample.
WIRE_CHUNK_BYTES = WIRE_RATE * 20 // 1000
# A media message as json.dumps writes it, either side of its payload.
_MEDIA_END = '"}}'
_MEDIA_HEAD = json.dumps({"event": "media", "media": {"payload": ""}})[: -len(_MEDIA_END)]


def decode_payload(payload: str) -> bytes:
    """A base64 μ-law payload as 8 kHz PCM16."""
    try:
        return mulaw_to_pcm16(base64.b64decode(payload, validate=True))
    except binascii.Error:
        raise MediaProtocolError("media payload is not base64") from None


def encode_payload(pcm: bytes) -> str:
    """8 kHz PCM16 as a base64 μ-law payload."""
    return base64.b64encode(pcm16_to_mulaw(pcm)).decode()


class TelnyxMediaCodec:
    """Telnyx media messages ⇄ neutral media events and 16 kHz audio, for one stream."""

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self.stream_id: str | None = None
        self.last_error: dict[str, Any] | None = None
        # Agent audio already at this rate skips the outbound resampler (see audio()).
        self.line_rate = WIRE_RATE
        self._inbound = Resampler(WIRE_RATE, sample_rate)
        self._framer = Framer(sample_rate)
        self._outbound = Resampler(sample_rate, WIRE_RATE)
        self._pending = b""  # 8 kHz PCM16 not yet filling a 20 ms message

    # -- Telnyx → Voxline -------------------------------------------------------------

    def parse(self, text: str | bytes) -> list[MediaEvent]:
        """The events in one message. ``connected``, outbound-track audio, ``error`` (kept
        in :attr:`last_error`) and unknown events yield none; audio yields zero or more
        whole 20 ms frames. Raises :class:`MediaProtocolError` on a malformed message or a
        stream whose audio is not 8 kHz PCMU."""
        try:
            message = json_object(json.loads(text), "message")
        except json.JSONDecodeError:
            raise MediaProtocolError("message is not JSON") from None
        event = message.get("event")
        if event == "start":
            return [self._start(message)]
        if event == "media":
            return self._media(json_object(message.get("media"), "media"))
        if event == "mark":
            return [MediaMark(json_text(json_object(message.get("mark"), "mark"), "name"))]
        if event == "dtmf":
            return [MediaDtmf(json_text(json_object(message.get("dtmf"), "dtmf"), "digit"))]
        if event == "stop":
            return [MediaStop()]
        if event == "error":
            payload = message.get("payload")
            self.last_error = payload if isinstance(payload, dict) else {}
        return []

    def _start(self, message: dict[str, Any]) -> MediaStart:
        start = json_object(message.get("start"), "start")
        media_format = start.get("media_format")
        if isinstance(media_format, dict):
            encoding = media_format.get("encoding", WIRE_ENCODING)
            rate = media_format.get("sample_rate", WIRE_RATE)
            if encoding != WIRE_ENCODING or int(rate) != WIRE_RATE:
                raise MediaProtocolError(f"unsupported stream format {encoding}/{rate}")
        self.stream_id = json_text(message, "stream_id")
        parameters = start.get("custom_parameters")
        call_id = parameters.get("call_id") if isinstance(parameters, dict) else None
        if not isinstance(call_id, str) or not call_id:
            call_id = decode_client_state(start.get("client_state"))
        return MediaStart(
            stream_id=self.stream_id,
            provider_call_id=json_text(start, "call_control_id"),
            call_id=call_id,
        )

    def _media(self, media: dict[str, Any]) -> list[MediaEvent]:
        if media.get("track", "inbound") != "inbound":
            return []
        pcm = self._inbound.process(decode_payload(json_text(media, "payload")))
        return [MediaAudio(frame) for frame in self._framer.push(pcm)]

    # -- Voxline → Telnyx -------------------------------------------------------------

    def finish(self) -> list[MediaEvent]:
        """The caller audio still buffered once the socket closed, then :class:`MediaStop`."""
        return remaining_audio(self._inbound, self._framer)

    @staticmethod
    def _media_message(pcm8k: bytes) -> str:
        # The string json.dumps makes of the message (base64 has nothing to escape), without
        # encoding it whole 50 times a second.
        return _MEDIA_HEAD + encode_payload(pcm8k) + _MEDIA_END

    def audio(self, frame: AudioFrame) -> list[str]:
        """``media`` messages of exactly 20 ms for agent audio, at the codec's
        ``sample_rate`` (resampled here) or already at the wire's 8 kHz (sent as it is); a
        remainder waits for more audio or :meth:`flush`."""
        if frame.sample_rate == WIRE_RATE:
            self._pending += frame.pcm
        elif frame.sample_rate == self.sample_rate:
            self._pending += self._outbound.process(frame.pcm)
        else:
            raise ValueError(
                f"agent audio is {frame.sample_rate} Hz, the codec expects "
                f"{self.sample_rate} or {WIRE_RATE}"
            )
        size = WIRE_CHUNK_BYTES * 2  # PCM16 bytes per 20 ms at 8 kHz
        whole = len(self._pending) - len(self._pending) % size
        chunks = [self._pending[i : i + size] for i in range(0, whole, size)]
        self._pending = self._pending[whole:]
        return [self._media_message(chunk) for chunk in chunks]

    def flush(self) -> list[str]:
        """Messages for the audio still buffered (the end of an utterance), the last one
        padded with silence to 20 ms."""
        tail = self._pending + self._outbound.flush()
        self._pending = b""
        size = WIRE_CHUNK_BYTES * 2
        messages = []
        for start in range(0, len(tail), size):
            chunk = tail[start : start + size]
            messages.append(self._media_message(chunk + bytes(size - len(chunk))))
        return messages

    def mark(self, name: str) -> list[str]:
        """Held-back audio, then a ``mark`` Telnyx echoes once the audio before it played."""
        return [*self.flush(), json.dumps({"event": "mark", "mark": {"name": name}})]

    def clear(self) -> str:
        """A ``clear`` for barge-in: Telnyx drops queued agent audio (and returns its
        pending marks). Agent audio still buffered here is dropped too."""
        self._pending = b""
        self._outbound.flush()
        return json.dumps({"event": "clear"})
