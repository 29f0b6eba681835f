"""Keypad tones in a call's audio: making them, hearing them, and hearing a voicemail beep.

- :func:`tones` plays keypad keys as standard DTMF dual tones (ITU-T Q.23), for carriers that
  take keys only in-band; :func:`tone` is one sine tone (a voicemail beep).
- :class:`DtmfDetector` hears keys in a live stream (ITU-T Q.24 style): each block of audio is
  measured at the eight DTMF frequencies (the Goertzel algorithm's single DFT terms), and a key
  counts when one row and one column tone hold most of the block's energy, both dominate their
  group and their levels are within the allowed twist. A key held across many blocks is one
  key; it must be heard in two blocks in a row, and released, before it counts again.
- :class:`BeepDetector` hears the end of a long enough tone near 1 kHz.

All audio is PCM16 mono, like :mod:`voxline.voice.frames`. Pure and cheap: a 20 ms frame costs
a few microseconds of numpy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voxline.voice.frames import SAMPLE_RATE, SAMPLE_WIDTH

ROWS_HZ = (697.0, 770.0, 852.0, 941.0)
COLUMNS_HZ = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
PAUSES_MS = {"w": 500, "W": 1000}
KEY_MS = 120
GAP_MS = 80

# Each of a key's two tones; together they peak at 0.6 of full scale.
TONE_AMPLITUDE = 0.3
FADE_MS = 4
# A block of 25.6 ms tells apart the two closest DTMF tones (697 and 770 Hz) cleanly.
BLOCK_MS = 25.6
MIN_LEVEL_DBFS = -45.0
# Share of a block's energy that the key's two tones must hold: speech and noise spread theirs.
MIN_TONE_SHARE = 0.6
MAX_TWIST_DB = 8.0
# How much stronger than any other tone of its group a key's tone must be.
MIN_DOMINANCE_DB = 8.0
BLOCKS_TO_CONFIRM = 2

BEEP_HZ = 1000.0
BEEP_TOLERANCE_HZ = 40.0
BEEP_MIN_MS = 150
BEEP_BLOCK_MS = 20.0
BEEP_MIN_SHARE = 0.7

Floats = npt.NDArray[np.float64]

_KEYS = {
    key: (ROWS_HZ[r], COLUMNS_HZ[c]) for r, row in enumerate(KEYPAD) for c, key in enumerate(row)
}


def _sine(freq_hz: float, samples: int, sample_rate: int) -> Floats:
    return np.sin(2 * np.pi * freq_hz * np.arange(samples) / sample_rate)


def _faded(signal: Floats, sample_rate: int) -> Floats:
    """``signal`` with short ramps at both ends, so it starts and stops without a click."""
    ramp = min(len(signal) // 2, sample_rate * FADE_MS // 1000)
    if ramp:
        window = np.linspace(0.0, 1.0, ramp)
        signal[:ramp] *= window
        signal[-ramp:] *= window[::-1]
    return signal


def _pcm(signal: Floats) -> bytes:
    return np.clip(np.rint(signal * 32767.0), -32768, 32767).astype("<i2").tobytes()


def tone(freq_hz: float, ms: int, sample_rate: int = SAMPLE_RATE, amplitude: float = 0.5) -> bytes:
    """One sine tone of ``freq_hz`` lasting ``ms``, as PCM16 (``amplitude`` of full scale)."""
    samples = sample_rate * ms // 1000
    return _pcm(_faded(amplitude * _sine(freq_hz, samples, sample_rate), sample_rate))


def key_ms(key: str) -> int:
    """How long :func:`tones` takes over one key (its tone and gap) or pause."""
    return PAUSES_MS.get(key, KEY_MS + GAP_MS)


def tones(
    digits: str, sample_rate: int = SAMPLE_RATE, tone_ms: int = KEY_MS, gap_ms: int = GAP_MS
) -> bytes:
    """``digits`` as DTMF, PCM16: each key ``tone_ms`` of its two tones then ``gap_ms`` of
    silence; ``w`` is a pause of half a second and ``W`` of a second. Raises ValueError for
    any other character."""
    samples = sample_rate * tone_ms // 1000
    gap = bytes(sample_rate * gap_ms // 1000 * SAMPLE_WIDTH)
    parts: list[bytes] = []
    for key in digits:
        if key in PAUSES_MS:
            parts.append(bytes(sample_rate * PAUSES_MS[key] // 1000 * SAMPLE_WIDTH))
            continue
        pair = _KEYS.get(key.upper())
        if pair is None:
            raise ValueError(f"not a keypad key: {key!r}")
        low, high = pair
        signal = TONE_AMPLITUDE * (
            _sine(low, samples, sample_rate) + _sine(high, samples, sample_rate)
        )
        parts.append(_pcm(_faded(signal, sample_rate)))
        parts.append(gap)
    return b"".join(parts)


class _Blocks:
    """Regroups a PCM16 stream into blocks of a fixed number of float samples."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pending = np.zeros(0)
        self._odd_byte = b""

    def push(self, pcm: bytes) -> list[Floats]:
        pcm = self._odd_byte + pcm
        usable = len(pcm) - len(pcm) % SAMPLE_WIDTH
        self._odd_byte = pcm[usable:]
        fresh = np.frombuffer(pcm[:usable], dtype="<i2").astype(np.float64) / 32768.0
        pending = np.concatenate((self._pending, fresh))
        whole = len(pending) - len(pending) % self.size
        self._pending = pending[whole:]
        return [pending[i : i + self.size] for i in range(0, whole, self.size)]


class _Powers:
    """The power of each of ``freqs_hz`` in a block of ``size`` samples, as a share of the
    block's energy (a pure sine at one of them scores 1)."""

    def __init__(self, freqs_hz: tuple[float, ...], size: int, sample_rate: int) -> None:
        phases = 2 * np.pi * np.outer(freqs_hz, np.arange(size)) / sample_rate
        self._basis = np.exp(-1j * phases)

    def shares(self, block: Floats) -> tuple[Floats, float]:
        """(share per frequency, mean square of the block)."""
        energy = float(np.dot(block, block))
        if energy <= 0.0:
            return np.zeros(len(self._basis)), 0.0
        terms = np.abs(self._basis @ block) ** 2
        return terms * 2.0 / (len(block) * energy), energy / len(block)


def _db(ratio: float) -> float:
    return float(10.0 * np.log10(max(ratio, 1e-12)))


class DtmfDetector:
    """Hears keypad keys in one stream of PCM16 audio (one detector per stream)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        size = round(sample_rate * BLOCK_MS / 1000)
        self._blocks = _Blocks(size)
        self._powers = _Powers(ROWS_HZ + COLUMNS_HZ, size, sample_rate)
        self._min_mean_square = 10 ** (MIN_LEVEL_DBFS / 10) / 2
        self._candidate: str | None = None
        self._seen = 0
        self._held: str | None = None
        self._away = 0

    def feed(self, pcm: bytes) -> list[str]:
        """The keys whose press was confirmed within ``pcm`` (in order; usually none)."""
        keys: list[str] = []
        for block in self._blocks.push(pcm):
            key = self._key_of(block)
            if key is not None and key == self._held:
                self._away = 0
                continue
            # A held key is released once it has been gone for as long as it takes to confirm
            # one: a single noisy block inside a long tone does not make it a second press.
            self._away += 1
            if self._away >= BLOCKS_TO_CONFIRM:
                self._held = None
            if key != self._candidate:
                self._candidate, self._seen = key, 0
            if key is None:
                continue
            self._seen += 1
            if self._seen >= BLOCKS_TO_CONFIRM and self._held is None:
                self._held, self._away = key, 0
                keys.append(key)
        return keys

    def _key_of(self, block: Floats) -> str | None:
        shares, mean_square = self._powers.shares(block)
        if mean_square < self._min_mean_square:
            return None
        rows, columns = shares[:4], shares[4:]
        row, column = int(np.argmax(rows)), int(np.argmax(columns))
        if rows[row] + columns[column] < MIN_TONE_SHARE:
            return None
        if abs(_db(rows[row] / max(columns[column], 1e-12))) > MAX_TWIST_DB:
            return None
        for group, best in ((rows, row), (columns, column)):
            others = np.delete(group, best)
            if _db(group[best] / max(float(others.max()), 1e-12)) < MIN_DOMINANCE_DB:
                return None
        return KEYPAD[row][column]


class BeepDetector:
    """Hears a voicemail beep: a tone within ``BEEP_TOLERANCE_HZ`` of 1 kHz lasting at least
    ``BEEP_MIN_MS``."""

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        size = round(sample_rate * BEEP_BLOCK_MS / 1000)
        self._blocks = _Blocks(size)
        steps = np.linspace(BEEP_HZ - BEEP_TOLERANCE_HZ, BEEP_HZ + BEEP_TOLERANCE_HZ, 9)
        self._powers = _Powers(tuple(float(f) for f in steps), size, sample_rate)
        self._min_mean_square = 10 ** (MIN_LEVEL_DBFS / 10) / 2
        # The tone's first and last blocks may be partly silence: they need not count.
        self._needed = int(np.ceil((BEEP_MIN_MS - BEEP_BLOCK_MS) / BEEP_BLOCK_MS))
        self._run = 0

    def feed(self, pcm: bytes) -> bool:
        """True when a beep ended within ``pcm``."""
        ended = False
        for block in self._blocks.push(pcm):
            shares, mean_square = self._powers.shares(block)
            if mean_square >= self._min_mean_square and float(shares.max()) >= BEEP_MIN_SHARE:
                self._run += 1
                continue
            ended = ended or self._run >= self._needed
            self._run = 0
        return ended
