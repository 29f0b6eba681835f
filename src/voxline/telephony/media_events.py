"""Provider-neutral events read from a carrier's media WebSocket.

Each provider's ``media.py`` parses its own JSON messages into these, so the voice transport
never sees a vendor's wire format. Audio is already converted to Voxline's internal format
(16 kHz PCM16, see :mod:`voxline.voice.frames`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voxline.voice.audio import Resampler
from voxline.voice.frames import AudioFrame, Framer


@dataclass(frozen=True, slots=True)
class MediaStart:
    """The stream is up; ``call_id`` is Voxline's call id when the provider echoed it, and
    ``token`` the call's media token when the provider carries it in the start message
    (Twilio's custom parameters; the others present it on the upgrade)."""

    stream_id: str
    provider_call_id: str
    call_id: str | None = None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class MediaAudio:
    """Caller audio, as one 16 kHz PCM16 frame."""

    frame: AudioFrame


@dataclass(frozen=True, slots=True)
class MediaMark:
    """Audio queued before the mark (checkpoint) named ``name`` has played, or was cleared."""

    name: str


@dataclass(frozen=True, slots=True)
class MediaDtmf:
    """The caller pressed a key (``0-9``, ``*``, ``#``, ``A-D``)."""

    digit: str


@dataclass(frozen=True, slots=True)
class MediaStop:
    """The provider ended the stream; no more messages follow."""


MediaEvent = MediaStart | MediaAudio | MediaMark | MediaDtmf | MediaStop


class MediaProtocolError(ValueError):
    """A media-stream message that is not well formed for its provider's protocol."""


def json_object(value: Any, name: str) -> dict[str, Any]:
    """``value`` as a JSON object, or :class:`MediaProtocolError` naming it."""
    if not isinstance(value, dict):
        raise MediaProtocolError(f"{name} must be an object")
    return value


def json_text(container: dict[str, Any], key: str) -> str:
    """A non-empty string field of a JSON object, or :class:`MediaProtocolError`."""
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise MediaProtocolError(f"{key} must be a non-empty string")
    return value


def remaining_audio(inbound: Resampler, framer: Framer) -> list[MediaEvent]:
    """What a codec still holds of the contact's audio once the socket closed (the
    resampler's tail, the last partial frame), then :class:`MediaStop`."""
    frames = framer.push(inbound.flush())
    last = framer.flush()
    events: list[MediaEvent] = [MediaAudio(frame) for frame in frames]
    if last is not None:
        events.append(MediaAudio(last))
    events.append(MediaStop())
    return events
