"""What every remote speech engine shares: failures as :class:`ProviderError`, and audio as
it comes off the wire.

The one ``retryable`` rule (as in :mod:`voxline.telephony.http`): a timeout, a connection
failure or a dropped stream, a 5xx, a 408 or a 429 may succeed later; any other 4xx (a wrong
key, a wrong model) fails the same way again. Exceptions of the HTTP and WebSocket clients are
chained ``from None``: their requests carry the account's key in a header, and their URLs
may carry it in a query. The WebSocket client logs through :data:`WIRE_LOG`, which drops its
DEBUG records (they print the handshake's headers, the key among them).

:class:`PcmDecoder` turns a streamed body (raw PCM16 at a known rate, or a WAV whose header
comes first and whose sizes may be placeholders) into 16 kHz PCM16 chunk by chunk: a chunk
that splits a sample keeps the odd byte for the next, and the resampler's filter state
carries across chunks, so the stream sounds as if converted whole.
"""

from __future__ import annotations

import io
import logging
import struct
import wave
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from voxline.errors import ProviderError
from voxline.voice.audio import Resampler
from voxline.voice.frames import SAMPLE_RATE


class _NoWireDebug(logging.LoggerAdapter[logging.Logger]):
    """A logger that never takes DEBUG records, whatever the configured level."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return msg, kwargs


# The WebSocket client's logger. Its DEBUG records dump the handshake, headers included: the
# vendor's key would be in them, so remote engines hand the client this one instead.
WIRE_LOG = _NoWireDebug(logging.getLogger("voxline.voice.wire"), {})

# A WAV header longer than this without a data chunk is not one we can play.
MAX_WAV_HEADER = 4096


def retryable_status(status: int) -> bool:
    """Whether a request answered with HTTP ``status`` may succeed if sent again."""
    return status >= 500 or status in (408, 429)


def http_error(provider: str, label: str, status: int) -> ProviderError:
    """The error of an HTTP (or WebSocket handshake) answer ``status`` >= 400."""
    return ProviderError(
        f"{label} answered HTTP {status}",
        provider=provider,
        retryable=retryable_status(status),
        http_status=status,
    )


def timed_out(provider: str, label: str) -> ProviderError:
    return ProviderError(f"{label} did not answer in time", provider=provider, retryable=True)


def unreachable(provider: str, label: str, exc: BaseException) -> ProviderError:
    """A connection that failed or dropped; names only the exception's type."""
    return ProviderError(
        f"{label} unreachable or dropped ({type(exc).__name__})", provider=provider, retryable=True
    )


async def open_socket(
    url: str,
    headers: dict[str, str],
    *,
    provider: str,
    label: str,
    setting: str,
    open_timeout: float,
    max_size: int,
    close_timeout: float | None = None,
) -> ClientConnection:
    """A WebSocket to a remote engine, its failures as :class:`ProviderError` (``setting``
    names the configured URL when it is not a WebSocket one). The client logs through
    :data:`WIRE_LOG` and nothing of the handshake is chained."""
    try:
        return await connect(
            url,
            additional_headers=headers,
            open_timeout=open_timeout,
            close_timeout=close_timeout,
            compression=None,
            max_size=max_size,
            logger=WIRE_LOG,
        )
    except InvalidStatus as exc:
        raise http_error(provider, label, exc.response.status_code) from None
    except TimeoutError:
        raise timed_out(provider, label) from None
    except InvalidURI:
        raise ProviderError(
            f"{label}: the {setting} is not a WebSocket URL", provider=provider, retryable=False
        ) from None
    except (OSError, InvalidHandshake) as exc:
        raise unreachable(provider, label, exc) from None


def pcm16_wav(pcm16: bytes, rate: int = SAMPLE_RATE) -> bytes:
    """Mono PCM16 as a complete WAV file (what upload APIs accept)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm16)
    return buffer.getvalue()


def _wav_header(data: bytes) -> tuple[int, int] | None:
    """``(offset of the samples, sample rate)`` once ``data`` holds the whole header, None
    while more is needed; ValueError for what is not 16-bit mono PCM WAV."""
    if len(data) < 12:
        return None
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    offset, rate = 12, None
    while offset + 8 <= len(data):
        chunk_id, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk_id == b"fmt ":
            if len(data) < body + 16:
                return None
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag != 1 or channels != 1 or bits != 16:
                raise ValueError("expected 16-bit mono PCM")
        elif chunk_id == b"data":
            if rate is None:
                raise ValueError("WAV data before its format")
            return body, rate
        offset = body + size + size % 2
    if len(data) > MAX_WAV_HEADER:
        raise ValueError("WAV header without data")
    return None


class PcmDecoder:
    """A streamed audio body → 16 kHz PCM16, chunk by chunk (see the module docstring).

    ``rate`` is the rate of raw PCM; ``wav=True`` reads it from the stream's own header.
    Raises ValueError for a WAV stream it cannot play. One per stream.
    """

    def __init__(self, *, rate: int | None = None, wav: bool = False) -> None:
        if not wav and rate is None:
            raise ValueError("raw PCM needs its sample rate")
        self._header: bytearray | None = bytearray() if wav else None
        self._resampler = None if rate is None else Resampler(rate, SAMPLE_RATE, quality="HQ")
        self._odd = b""

    def feed(self, data: bytes) -> bytes:
        """The 16 kHz audio that ``data`` completes (may be empty)."""
        if self._header is not None:
            self._header += data
            found = _wav_header(bytes(self._header))
            if found is None:
                return b""
            offset, rate = found
            data = bytes(self._header[offset:])
            self._header = None
            self._resampler = Resampler(rate, SAMPLE_RATE, quality="HQ")
        assert self._resampler is not None
        data = self._odd + data
        whole = len(data) - len(data) % 2
        self._odd = data[whole:]
        return self._resampler.process(data[:whole]) if whole else b""

    def flush(self) -> bytes:
        """The resampler's tail, once the stream has ended."""
        if self._header is not None:
            raise ValueError("the WAV stream ended inside its header")
        return self._resampler.flush() if self._resampler is not None else b""
