"""The codec of Twilio Media Streams messages (``reference/telephony.md`` §1.10, §1.11).

Twilio sends JSON text frames carrying base64 G.711 μ-law at 8 kHz; Voxline works in 16 kHz
PCM16 frames of 20 ms. :class:`TwilioMediaCodec` converts both ways for one stream and does
no I/O: the transport reads a message, calls :meth:`~TwilioMediaCodec.parse`, and sends the
strings the builders return.

It keeps per-stream state on purpose: the resamplers carry their filter across chunks (so
20 ms pieces don't click at the edges), outgoing audio is cut into exact 20 ms messages,
and Twilio needs the stream's ``streamSid`` on everything we send.
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
from voxline.voice.audio import Resampler, mulaw_to_pcm16, pcm16_to_mulaw
from voxline.voice.frames import SAMPLE_RATE, AudioFrame, Framer

WIRE_RATE = 8000
# 20 ms of 8 kHz μ-law, one byte per sample.
WIRE_CHUNK_BYTES = WIRE_RATE * 20 // 1000
# What follows a media message's payload: its string's closing quote and two braces.
_MEDIA_END = '"}}'


class TwilioMediaCodec:
    """Twilio media messages ⇄ neutral media events and 16 kHz audio, for one stream."""

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        self.sample_rate = sample_rate
        self.stream_sid: str | None = None
        # Agent audio already at this rate skips the outbound resampler (see audio()).
        self.line_rate = WIRE_RATE
        self._inbound = Resampler(WIRE_RATE, sample_rate)
        self._framer = Framer(sample_rate)
        self._outbound = Resampler(sample_rate, WIRE_RATE)
        self._pending = b""  # μ-law not yet filling a 20 ms message
        # (streamSid, a media message up to its payload), made once per stream.
        self._media_head: tuple[str, str] | None = None

    # -- Twilio → Voxline -------------------------------------------------------------

    def parse(self, text: str) -> list[MediaEvent]:
        """The events in one message; ``connected``, outbound-track echoes and unknown
        events yield none. Raises :class:`MediaProtocolError` on a malformed message."""
        try:
            message = json_object(json.loads(text), "message")
        except json.JSONDecodeError:
            raise MediaProtocolError("message is not JSON") from None
        event = message.get("event")
        if event == "start":
            return [self._start(json_object(message.get("start"), "start"))]
        if event == "media":
            return self._media(json_object(message.get("media"), "media"))
        if event == "mark":
            return [MediaMark(json_text(json_object(message.get("mark"), "mark"), "name"))]
        if event == "dtmf":
            return [MediaDtmf(json_text(json_object(message.get("dtmf"), "dtmf"), "digit"))]
        if event == "stop":
            return [MediaStop()]
        return []

    def _start(self, start: dict[str, Any]) -> MediaStart:
        self.stream_sid = json_text(start, "streamSid")
        parameters = start.get("customParameters")
        if not isinstance(parameters, dict):
            parameters = {}
        call_id, token = parameters.get("call_id"), parameters.get("token")
        return MediaStart(
            stream_id=self.stream_sid,
            provider_call_id=json_text(start, "callSid"),
            call_id=call_id if isinstance(call_id, str) and call_id else None,
            token=token if isinstance(token, str) and token else None,
        )

    def _media(self, media: dict[str, Any]) -> list[MediaEvent]:
        if media.get("track", "inbound") != "inbound":
            return []
        try:
            ulaw = base64.b64decode(json_text(media, "payload"), validate=True)
        except binascii.Error:
            raise MediaProtocolError("media payload is not base64") from None
        pcm = self._inbound.process(mulaw_to_pcm16(ulaw))
        return [MediaAudio(frame) for frame in self._framer.push(pcm)]

    def finish(self) -> list[MediaEvent]:
        """The caller audio still buffered once the socket closed, then :class:`MediaStop`."""
        return remaining_audio(self._inbound, self._framer)

    # -- Voxline → Twilio -------------------------------------------------------------

    def _envelope(self, event: str, **fields: Any) -> str:
        if self.stream_sid is None:
            raise MediaProtocolError("no start message yet: the stream has no streamSid")
        return json.dumps({"event": event, "streamSid": self.stream_sid, **fields})

    def _media_message(self, ulaw: bytes) -> str:
        # json.dumps' own text around the payload, made once per stream: base64 has nothing
        # to escape, so head + payload + end is the string json.dumps would return, without
        # encoding the whole message 50 times a second.
        head = self._media_head
        if head is None or head[0] != self.stream_sid:
            envelope = self._envelope("media", media={"payload": ""})
            head = self._media_head = (self.stream_sid or "", envelope[: -len(_MEDIA_END)])
        return head[1] + base64.b64encode(ulaw).decode() + _MEDIA_END

    def _chunks(self, *, everything: bool) -> list[str]:
        """Messages of 20 ms from the buffered μ-law; with ``everything`` a short last one."""
        cut = (
            len(self._pending)
            if everything
            else len(self._pending) - len(self._pending) % WIRE_CHUNK_BYTES
        )
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return [
            self._media_message(ready[start : start + WIRE_CHUNK_BYTES])
            for start in range(0, cut, WIRE_CHUNK_BYTES)
        ]

    def audio(self, frame: AudioFrame) -> list[str]:
        """``media`` messages of exactly 20 ms for agent audio, at the codec's
        ``sample_rate`` (resampled here) or already at the wire's 8 kHz (sent as it is). The
        resampler and a partial message hold some audio back until more arrives or
        :meth:`flush`/:meth:`mark`."""
        if frame.sample_rate == WIRE_RATE:
            self._pending += pcm16_to_mulaw(frame.pcm)
        elif frame.sample_rate == self._outbound.from_rate:
            self._pending += pcm16_to_mulaw(self._outbound.process(frame.pcm))
        else:
            raise ValueError(
                f"agent audio must be {self._outbound.from_rate} or {WIRE_RATE} Hz, "
                f"not {frame.sample_rate} Hz"
            )
        return self._chunks(everything=False)

    def flush(self) -> list[str]:
        """Every bit of agent audio still held back, the last message possibly short.

        The resampler restarts afterwards, so call it at the end of an utterance.
        """
        self._pending += pcm16_to_mulaw(self._outbound.flush())
        return self._chunks(everything=True)

    def mark(self, name: str) -> list[str]:
        """Held-back audio, then a ``mark`` Twilio echoes once everything before it played."""
        return [*self.flush(), self._envelope("mark", mark={"name": name})]

    def clear(self) -> str:
        """The ``clear`` message for barge-in; agent audio not yet sent is dropped too."""
        self._pending = b""
        self._outbound.flush()  # discard the filter's tail: it belongs to the cut speech
        return self._envelope("clear")
