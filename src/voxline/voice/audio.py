"""Sample conversions: PCM16 ↔ float, resampling, G.711 μ-law, loudness and onset.

PCM here is always 16-bit little-endian signed mono. The μ-law codec matches CPython's
``audioop.lin2ulaw``/``ulaw2lin`` bit for bit (``reference/telephony.md`` §4.2): it shifts to
14 bits *before* taking the magnitude, which is why it differs from the textbook 16-bit
encoder on 381 negative inputs. The carrier emulator and the app must use this same codec.
Both directions are a single table lookup; a 20 ms frame costs a few microseconds.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import soxr

_PCM = np.dtype("<i2")
_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
# Quietest level rms_dbfs reports: digital silence would otherwise be -inf.
SILENCE_DBFS = -120.0

Samples = npt.NDArray[np.float32]


def pcm16_to_float32(pcm: bytes) -> Samples:
    """PCM16 bytes → float32 samples in [-1, 1)."""
    return np.frombuffer(pcm, dtype=_PCM).astype(np.float32) / 32768.0


def float32_to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    """float samples (nominally [-1, 1]) → PCM16 bytes, clipping what is out of range."""
    scaled = np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    return scaled.astype(_PCM).tobytes()


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample a whole PCM16 buffer (one utterance, one file); see :class:`Resampler` for
    a live stream, where chunk edges must not click."""
    if from_rate == to_rate or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype=_PCM)
    return np.asarray(soxr.resample(samples, from_rate, to_rate), dtype=_PCM).tobytes()


class Resampler:
    """A stateful PCM16 resampler for one direction of one stream.

    The filter state carries across chunks, so a stream fed in 20 ms pieces comes out as
    if resampled whole. Output lags input by the filter's delay; :meth:`flush` returns the
    tail once the stream ends. Not thread-safe: one per stream per direction.

    Live media uses soxr's quick quality (``"QQ"``): it returns audio for every 20 ms frame,
    where the higher qualities hold back ~100 ms blocks, which a call would hear as delay.
    Telephone-band audio loses nothing audible to it.
    """

    def __init__(self, from_rate: int, to_rate: int, quality: str = "QQ") -> None:
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._stream = (
            None
            if from_rate == to_rate
            else soxr.ResampleStream(from_rate, to_rate, 1, "int16", quality=quality)
        )

    def process(self, pcm: bytes) -> bytes:
        if self._stream is None:
            return pcm
        # As soxr's 2-D input (samples x 1 channel): the output comes back as it is made,
        # where a 1-D input goes through a reshape and np.squeeze on every frame.
        samples = np.frombuffer(pcm, dtype=_PCM)[:, np.newaxis]
        return np.asarray(self._stream.resample_chunk(samples), dtype=_PCM).tobytes()

    def flush(self) -> bytes:
        """The buffered tail; the resampler is then ready for a fresh stream."""
        if self._stream is None:
            return b""
        tail = self._stream.resample_chunk(np.zeros(0, dtype=_PCM), last=True)
        self._stream.clear()
        return np.asarray(tail, dtype=_PCM).tobytes()


def _decode(ulaw: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
    u = (~ulaw.astype(np.int32)) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _encode(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.uint8]:
    v = pcm.astype(np.int32) >> 2  # 14-bit, arithmetic (floor) shift, as audioop does
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 32635) + 0x21
    seg = np.searchsorted(_SEG_END, v, side="left")
    s7 = np.minimum(seg, 7)
    u = np.where(seg >= 8, 0x7F, (s7 << 4) | ((v >> (s7 + 1)) & 0x0F))
    return (u ^ mask).astype(np.uint8)


# Lookup tables built once from the exact algorithms above: decoding indexes by the byte,
# encoding by the sample's bit pattern read as uint16.
_DECODE_TABLE = _decode(np.arange(256, dtype=np.uint8)).astype(_PCM)
_ENCODE_TABLE = _encode(np.arange(65536, dtype=np.uint16).view(np.int16))


def mulaw_to_pcm16(ulaw: bytes) -> bytes:
    """G.711 μ-law bytes → PCM16 bytes (same sample rate, twice the length)."""
    # take() rather than fancy indexing: the same lookup, a third less time on a frame.
    decoded: npt.NDArray[np.int16] = _DECODE_TABLE.take(np.frombuffer(ulaw, dtype=np.uint8))
    return decoded.tobytes()


def pcm16_to_mulaw(pcm: bytes) -> bytes:
    """PCM16 bytes → G.711 μ-law bytes, bit-exact with ``audioop.lin2ulaw``."""
    encoded: npt.NDArray[np.uint8] = _ENCODE_TABLE.take(np.frombuffer(pcm, dtype="<u2"))
    return encoded.tobytes()


def rms_dbfs(pcm: bytes) -> float:
    """Loudness as RMS in dB relative to full scale (a full-scale square wave is 0 dBFS);
    silence or empty input gives :data:`SILENCE_DBFS`."""
    samples = np.frombuffer(pcm, dtype=_PCM).astype(np.float64)
    if samples.size == 0:
        return SILENCE_DBFS
    rms = math.sqrt(float(np.mean(samples * samples))) / 32768.0
    if rms <= 0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(rms))


# A synthesized utterance starts where a sample first comes within this much of its peak.
ONSET_BELOW_PEAK_DB = 40.0
# Kept before that sample, so a soft onset (a breath, a fricative's rise) is not clipped.
ONSET_KEEP_MS = 5.0


def trim_leading_quiet(
    pcm: bytes,
    rate: int = 16_000,
    *,
    below_peak_db: float = ONSET_BELOW_PEAK_DB,
    keep_ms: float = ONSET_KEEP_MS,
) -> bytes:
    """``pcm`` without the quiet before its first sound, less ``keep_ms`` of it.

    The threshold is relative to the utterance's own peak (``below_peak_db`` under it), not
    an absolute level, so a quietly synthesized voice is trimmed alike. Audio that starts
    at once, or is silent throughout, comes back unchanged.
    """
    samples = np.abs(np.frombuffer(pcm, dtype=_PCM, count=len(pcm) // 2).astype(np.int32))
    if samples.size == 0:
        return pcm
    peak = int(samples.max())
    if peak == 0:
        return pcm
    first = int(np.argmax(samples >= peak * 10 ** (-below_peak_db / 20)))
    start = first - int(rate * keep_ms / 1000)
    return pcm[start * 2 :] if start > 0 else pcm
