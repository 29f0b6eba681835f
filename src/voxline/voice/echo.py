"""Echo of the agent's own voice on the line: found, subtracted and suppressed before the
VAD hears the contact.

A carrier's hybrid or a handset with poor echo cancellation returns a delayed, attenuated
(and filtered) copy of what the agent sends. :class:`EchoCanceller` takes the agent's
outgoing frames as the reference (:meth:`~EchoCanceller.reference`) and cleans each incoming
frame (:meth:`~EchoCanceller.process`):

1. **Delay.** Both streams are counted in samples (each side moves 20 ms per frame), so the
   echo of outgoing sample ``n`` arrives at incoming sample ``n + delay``, whatever the
   scheduling jitter between sending and receiving; ``delay`` includes any difference in
   when the two streams started, and is searched from where the outgoing stream is when a
   frame comes in (less 100 ms of jitter) to ``max_delay_ms`` before. The delay is found
   by normalised cross-correlation of the last second of both streams, decimated to 4 kHz
   (an FFT of 8 k points), searched up to ``max_delay_ms``; while the agent talks it is
   looked for every 40 ms in the agent's first two seconds of speech (an echo is found
   within the agent's first ~100 ms of speech), every 200 ms later while no echo is known
   (the wait doubling, up to a second, each time a search found none or was not worth
   running), and every second once one is. A peak below ``min_correlation`` means "no echo
   on this line". A search is only run when there can be an echo to find: the agent spoke
   in the last second, the incoming stream carried sound in it (100 ms at least, after the
   agent's first two seconds), and that
   sound's loudness rises and falls with the agent's (the 20 ms RMS envelopes of both
   streams correlate at some lag in the searched range). A contact talking over the agent,
   or a silent line, costs no search.
2. **Path.** Around that delay a short FIR filter (``taps`` samples, 2 ms) models the echo
   path's gain and colouring. It is the least-squares fit over recent frames (exponentially
   forgotten normal equations, a 32 x 32 solve per frame), updated only while the incoming
   audio is explained by the echo (no double talk), so the contact's voice does not bend it.
   Three frames in a row that look like echo but are not explained by the path (the far
   end's clock slipped and the echo moved) start a new delay search at once.
3. **Subtraction and suppression.** The modelled echo is subtracted; a frame whose residual
   is still more than ``suppress_below_db`` under the modelled echo holds nothing but echo
   and is silenced (the usual non-linear stage of an echo canceller), so a faint leftover
   never reads as speech. Contact speech over the echo leaves a loud residual and passes.
   A silent incoming frame, or one that no loud reference frame can have reached yet or
   still (the agent has been quiet for longer than the echo's delay), has nothing to
   remove and is passed as it is.

Cost (``bench/README.md``, "the echo canceller's cost"; ``python -m bench.echo_cost``):
while no echo is known (most lines), a frame is only queued on each stream, and the queued
frames are written into the histories and their levels measured a few dozen at once when a
search is due (:class:`_Stream`), so the bookkeeping is a fraction of a microsecond per frame
plus that batch; a delay search ~0.3-0.5 ms; an echoing line ~35-55 µs per frame on average
while the agent talks (most of its frames are explained by the path and silenced without a
new fit). The two streams' histories are kept as 16-bit samples, ~170 KiB per call. Pure
numpy; no state is shared between calls.

Decision: written here rather than taken from a package. The AEC bindings on PyPI
(``speexdsp``, ``webrtc-audio-processing``, ``aec-audio-processing``) ship no wheels for
current Pythons (source builds needing system libraries and SWIG), and ``webrtc-noise-gain``
has no echo canceller. The telephone echo this must handle is a single delayed path, which a
delay search plus a short filter models well; an acoustic room echo would need a long
adaptive filter.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

from voxline.voice.frames import FRAME_SAMPLES, SAMPLE_RATE

Floats = npt.NDArray[np.float64]
Samples = npt.NDArray[np.int16]

_DECIMATE = 4
_SEARCH_SAMPLES = SAMPLE_RATE  # one second of both streams for the delay search
_SEARCH_EVERY_FRAMES = 2  # while no echo is known, in the agent's first 2 s of speech
_SEARCH_LATER_EVERY_FRAMES = 10  # while no echo is known, later on (at first: see below)
_TRACK_EVERY_FRAMES = 50
_FORGET = 0.9  # per frame, for the path's normal equations
_MISSES_BEFORE_SEARCH = 3
_MARGIN = SAMPLE_RATE // 10  # 100 ms of jitter between the two streams, in samples
_ACTIVE_RMS = 100.0  # int16 units (about -50 dBFS): quieter reference is no echo source
_ACTIVE_ENERGY = _ACTIVE_RMS**2  # per sample
# Incoming audio quieter than this (int16 RMS, about -72 dBFS) holds no echo worth removing:
# the frame is passed as it is, and a second of it is no reason to search for an echo.
_SILENT_RMS = 8.0
_SILENT_ENERGY = _SILENT_RMS**2  # per sample
# The envelopes' correlation (Pearson, at the best lag) a search needs. Measured on real
# speech (tests/voice/test_echo.py's voices, 1 s windows): 0.91-1.0 for an echo alone at
# 60-333 ms; 0.1-0.6 for the contact talking over the agent without echo, 0.2-0.46 for the
# contact talking over an echo (where the search's own correlation fails too), and
# 0.1-0.4 for steady line noise (0.5 in a 200 ms window).
_MIN_ENVELOPE_CORRELATION = 0.7
# Frames (20 ms) of the last second in which the line must have sounded for a search after
# the agent's first two seconds of speech: an onset of a few milliseconds is not enough.
_SOUNDING_FRAMES = 5


class _History:
    """The last ``keep`` samples of a stream (zeros before it started), as sent (16-bit: a
    quarter of the memory of floats), appended in O(frame) amortized time: a buffer twice as
    long is compacted when full."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.end = 0  # samples seen
        self._buffer = np.zeros(2 * keep, dtype=np.int16)
        self._size = 2 * keep
        self._stop = keep

    def push(self, samples: Samples) -> None:
        n = len(samples)
        stop = self._stop
        if n < self.keep and stop + n <= self._size:  # room left: every frame but a few
            self._buffer[stop : stop + n] = samples
            self._stop = stop + n
            self.end += n
            return
        if n >= self.keep:
            self._buffer[: self.keep] = samples[-self.keep :]
            self._stop = self.keep
        else:
            if self._stop + n > len(self._buffer):
                kept = self._buffer[self._stop - self.keep + n : self._stop]
                self._buffer[: self.keep - n] = kept
                self._stop = self.keep - n
            self._buffer[self._stop : self._stop + n] = samples
            self._stop += n
        self.end += n

    def last(self, count: int) -> Samples:
        """The last ``count`` samples (``count`` <= ``keep``), a view."""
        return self._buffer[self._stop - count : self._stop]

    def range(self, first: int, last: int) -> Samples | None:
        """Samples ``first`` to ``last`` (exclusive; stream positions), zero where not seen
        yet; None when they are no longer kept."""
        kept_from = self.end - self.keep
        if first < kept_from:
            return None
        stop = min(last, self.end)
        offset = self._stop - self.end
        segment = self._buffer[first + offset : max(first, stop) + offset]
        if len(segment) < last - first:
            missing = np.zeros(last - first - len(segment), dtype=np.int16)
            segment = np.concatenate((segment, missing))
        return segment


# Frames a stream queues before they are measured anyway (see _Stream.add).
_MAX_PENDING = 64


class _Stream:
    """One side's samples (:class:`_History`) and the loudness of each of its frames (RMS),
    with the stream position after its last frame louder than ``loud_energy`` per sample.

    Measured lazily: :meth:`add` only queues the frame (a list append), and the queued frames
    go into the history, their levels computed all at once, when the stream is next read
    (:meth:`measure`), at most :data:`_MAX_PENDING` frames later. While no echo is known,
    the canceller reads its streams only when a delay search is due (every 2 to 50 frames),
    so a frame costs the bookkeeping of a few dozen frames at once instead of its own few
    numpy calls: the same histories, levels and positions as measured frame by frame (the
    sums of squares of 16-bit samples are exact in float64 in any order). The queue holds
    references to the frames as they came, up to ~40 KiB of 20 ms frames per stream."""

    def __init__(self, keep: int, levels: int, loud_energy: float) -> None:
        self.history = _History(keep)
        self.levels: deque[float] = deque(maxlen=levels)
        self.loud_end = 0  # stream position after the last frame louder than loud_energy
        self.end = 0  # samples added, measured or not
        self._loud_energy = loud_energy
        self._pending: list[bytes] = []

    def add(self, pcm16: bytes) -> None:
        """Queue the stream's next frame (PCM16, any whole number of samples)."""
        if len(pcm16) % 2:
            raise ValueError("a PCM16 frame holds a whole number of 16-bit samples")
        self._pending.append(pcm16)
        self.end += len(pcm16) // 2
        if len(self._pending) >= _MAX_PENDING:
            self.measure()

    def add_measured(self, samples: Samples, energy: float) -> None:
        """The stream's next frame, its sum of squares already known."""
        if self._pending:
            self.measure()
        history = self.history
        history.push(samples)
        self.end = history.end
        count = len(samples)
        self.levels.append(math.sqrt(energy / max(1, count)))
        if energy > self._loud_energy * count:
            self.loud_end = history.end

    def measure(self) -> _History:
        """Push the queued frames into the history and their levels; the history."""
        pending = self._pending
        history = self.history
        if not pending:
            return history
        self._pending = []
        start = history.end
        samples = np.frombuffer(pending[0] if len(pending) == 1 else b"".join(pending), np.int16)
        history.push(samples)
        floats = samples.astype(np.float64)
        count = len(pending[0]) // 2
        if len(pending) > 1 and count and len(samples) == count * len(pending):  # as usual
            energies = np.einsum("ij,ij->i", *(floats.reshape(len(pending), count),) * 2)
            self.levels.extend(np.sqrt(energies / count).tolist())
            loud = np.flatnonzero(energies > self._loud_energy * count)
            if len(loud):
                self.loud_end = start + (int(loud[-1]) + 1) * count
            return history
        at = 0
        for frame in pending:
            count = len(frame) // 2
            piece = floats[at : at + count]
            at += count
            energy = _frame_energy(piece)
            self.levels.append(math.sqrt(energy / max(1, count)))
            if energy > self._loud_energy * count:
                self.loud_end = start + at
        return history


class EchoCanceller:
    """Removes the echo of the reference (outgoing) stream from the incoming stream.

    Not thread-safe; one per call. Frames are 16 kHz PCM16 of any length (normally 20 ms,
    or blocks of 20 ms frames), passed in the order they were sent and received; its
    schedules (searches, the fast start, the path's forgetting) count 20 ms frames.
    """

    def __init__(
        self,
        *,
        max_delay_ms: float = 500.0,
        taps: int = 32,
        min_correlation: float = 0.4,
        suppress_below_db: float = 8.0,
    ) -> None:
        self.max_delay = int(max_delay_ms * SAMPLE_RATE / 1000) // _DECIMATE * _DECIMATE
        self.taps = taps
        self.min_correlation = min_correlation
        self._suppress_ratio = 10 ** (-suppress_below_db / 10)
        # Each frame's RMS, for the loudness check before a search (frames of the incoming
        # stream's length: normally 20 ms), and the position after the last loud reference
        # frame (``_ref.loud_end``) and the last incoming frame with sound (``_mic.loud_end``).
        levels = (_SEARCH_SAMPLES + self.max_delay + 3 * _MARGIN) // FRAME_SAMPLES + 2
        self._ref = _Stream(
            _SEARCH_SAMPLES + self.max_delay + 2 * _MARGIN + 2 * taps, levels, _ACTIVE_ENERGY
        )
        self._mic = _Stream(_SEARCH_SAMPLES, levels, _SILENT_ENERGY)
        self._frame_samples = FRAME_SAMPLES
        # The echo path: delay (samples, of the filter's first tap) and filter.
        self.delay: int | None = None
        self.correlation = 0.0
        self.searches = 0  # delay searches run (cross-correlations), for benchmarks
        self._weights = np.zeros(taps)
        self._normal = np.zeros((taps, taps))
        self._cross = np.zeros(taps)
        self._eye = np.eye(taps)
        self._frames = 0
        self._rows: dict[int, npt.NDArray[np.intp]] = {}  # _reference_block's index, by length
        self._since_search = _SEARCH_EVERY_FRAMES
        # Frames between searches while no echo is known after the fast start: doubled by
        # each search that found none although the line's loudness followed the agent's.
        self._later_every = _SEARCH_LATER_EVERY_FRAMES
        self._misses = 0

    @property
    def echo_present(self) -> bool:
        """Whether an echo of the reference was found on this line."""
        return self.delay is not None

    @property
    def delay_ms(self) -> float | None:
        """The echo's delay in stream positions (to the path filter's centre), when one was
        found: the line's echo delay when both streams started together."""
        if self.delay is None:
            return None
        return (self.delay + self.taps // 2) * 1000 / SAMPLE_RATE

    def reference(self, pcm16: bytes) -> None:
        """The agent's next outgoing frame, as sent."""
        self._ref.add(pcm16)

    def process(self, pcm16: bytes) -> bytes:
        """The next incoming frame with the agent's echo removed."""
        mic = self._mic
        start = mic.end
        measured = self.delay is not None
        if measured:
            samples = np.frombuffer(pcm16, dtype=np.int16)
            incoming = samples.astype(np.float64)
            incoming_energy = _frame_energy(incoming)
            mic.add_measured(samples, incoming_energy)
        else:
            # No echo to remove: the frame is queued for a search's bookkeeping, if one
            # comes (measured then with the frames before it).
            mic.add(pcm16)
        count = len(pcm16) // 2
        self._frame_samples = max(1, count)
        # Counts are kept in 20 ms frames whatever the frames' length (a session may hand
        # over 40 ms blocks), so searches come as often in time either way.
        units = max(1, count // FRAME_SAMPLES)
        if self._frames < 100:  # only the fast start reads the count
            ref = self._ref
            # A loud frame measured in the last second is enough; else the queued ones count.
            if ref.loud_end <= ref.end - _SEARCH_SAMPLES:
                ref.measure()
            if ref.loud_end > ref.end - _SEARCH_SAMPLES:
                self._frames += units  # frames heard while the agent speaks (or just spoke)
        self._since_search += units
        if self.delay is not None:
            every = _TRACK_EVERY_FRAMES
        else:
            every = _SEARCH_EVERY_FRAMES if self._frames < 100 else self._later_every
        if self._since_search >= every or self._misses >= _MISSES_BEFORE_SEARCH:
            # Due: searched, or judged not worth it, then not looked at again until due.
            self._misses = 0
            self._since_search = 0
            if self._search_worthwhile():
                self._search_delay()
            if self.delay is None and self._frames >= 100:
                # Nothing found, or nothing worth a search (silence, the contact talking
                # over the agent): look again less often, up to once a second.
                self._later_every = min(2 * self._later_every, _TRACK_EVERY_FRAMES)
        if self.delay is None:
            return pcm16
        if not measured:  # an echo found by this frame's search: the frame is cleaned too
            samples = np.frombuffer(pcm16, dtype=np.int16)
            incoming = samples.astype(np.float64)
            incoming_energy = _frame_energy(incoming)
        if incoming_energy <= _SILENT_ENERGY * count:  # silent
            self._misses = 0  # nothing that looks like a moved echo either
            return pcm16
        # The reference samples the path filter weighs for this frame: none loud, no echo.
        self._ref.measure()
        if self._ref.loud_end <= start - self.delay - (self.taps - 1):
            self._misses = 0
            return pcm16
        block = self._reference_block(start, len(samples))
        if block is None:
            return pcm16
        echo = block @ self._weights
        residual = incoming - echo
        echo_energy = float(echo @ echo)
        residual_energy = float(residual @ residual)
        if echo_energy > 0 and residual_energy < self._suppress_ratio * echo_energy:
            # The path already explains the frame past the suppression margin: echo alone,
            # silenced, and nothing new for the fit (it is not re-solved: the usual case
            # on an echoing line, and most of its cost).
            self._misses = 0
            return bytes(len(pcm16))
        reference_energy = float(np.einsum("ij,ij->", block, block)) / self.taps
        # Adapt while the reference sounds and the incoming frame is mostly explained by
        # the echo, or is well under the reference (an echo is attenuated; a talking
        # contact is not).
        sounding = reference_energy > _ACTIVE_ENERGY * len(incoming)
        explained = residual_energy < 0.5 * incoming_energy
        # A frame quieter than the reference that the path does not explain: the echo may
        # have moved (the far end's clock slipped); a few in a row search again at once.
        moved = sounding and not explained and incoming_energy < 0.5 * reference_energy
        self._misses = self._misses + 1 if moved else 0
        if sounding and (explained or incoming_energy < 0.5 * reference_energy):
            self._adapt(block, incoming, units)
            echo = block @ self._weights
            residual = incoming - echo
            echo_energy = float(echo @ echo)
            residual_energy = float(residual @ residual)
        if echo_energy > 0 and residual_energy < self._suppress_ratio * echo_energy:
            residual = np.zeros_like(residual)
        return np.clip(np.rint(residual), -32768, 32767).astype(np.int16).tobytes()

    # Internals.

    def _search_worthwhile(self) -> bool:
        """Whether a delay search can find an echo now: the agent spoke and the line carried
        sound in the last second, and the line's loudness follows the agent's."""
        ref, mic = self._ref, self._mic
        ref.measure()
        mic.measure()
        if ref.loud_end <= max(0, ref.end - _SEARCH_SAMPLES):
            return False
        if mic.loud_end <= max(0, mic.end - _SEARCH_SAMPLES):
            return False
        # A few milliseconds of sound correlate with something somewhere (a normalised
        # correlation over one onset): after the agent's first two seconds, the line must
        # have sounded for longer than that. Not in them: an echo is found there, in its
        # first ~100 ms, before the VAD hears it as speech.
        if self._frames >= 100:
            recent = list(mic.levels)[-(_SEARCH_SAMPLES // self._frame_samples) :]
            sounding_levels = -(-_SOUNDING_FRAMES * FRAME_SAMPLES // self._frame_samples)
            if sum(level > _SILENT_RMS for level in recent) < sounding_levels:
                return False
        if _energy(ref.history.last(_SEARCH_SAMPLES)) <= _ACTIVE_ENERGY * _SEARCH_SAMPLES:
            return False
        return self._envelopes_correlate()

    def _search_window(self) -> tuple[int, int, int] | None:
        """The stretch of both streams a search compares: ``(available, base, first)``:
        the last ``available`` incoming samples, against the reference from stream position
        ``first`` to the incoming stream's end less ``base`` (the searched lags); None when
        too little was heard or the reference is no longer kept."""
        available = min(self._mic.end, _SEARCH_SAMPLES) // _DECIMATE * _DECIMATE
        if available < SAMPLE_RATE // 10:
            return None
        # Lags searched: from where the reference stream is now (less a margin for the two
        # streams' scheduling jitter) to max_delay further back.
        base = (self._mic.end - self._ref.end - _MARGIN) // _DECIMATE * _DECIMATE
        first = self._mic.end - available - base - self.max_delay
        if first < self._ref.end - self._ref.history.keep:
            return None
        return available, base, first

    def _envelopes_correlate(self) -> bool:
        """Whether the incoming stream's loudness (per frame) over the last second
        correlates (Pearson) with the reference's at some lag of the searched range."""
        frame = self._frame_samples
        span = -(-(self.max_delay + _MARGIN) // frame)
        mic = np.fromiter(self._mic.levels, dtype=np.float64)
        ref = np.fromiter(self._ref.levels, dtype=np.float64)
        blocks = min(len(mic), _SEARCH_SAMPLES // frame)
        if blocks < 5:
            return True  # too short to judge: let the search decide
        if len(ref) < blocks + span:  # silence before the reference stream started
            ref = np.concatenate((np.zeros(blocks + span - len(ref)), ref))
        # The last frames of each: the last lag pairs them as they came (both streams move
        # a frame per tick: no delay, or less than a frame), the first with the reference
        # `span` frames further back (the longest delay searched).
        mic = mic[-blocks:]
        ref = ref[-(blocks + span) :]
        mic = mic - mic.mean()
        mic_norm = float(np.sqrt(mic @ mic))
        if mic_norm == 0.0:
            return False
        lags = len(ref) - blocks + 1
        sums = np.concatenate(([0.0], np.cumsum(ref)))
        squares = np.concatenate(([0.0], np.cumsum(ref**2)))
        window_sum = sums[blocks:] - sums[:lags]
        window_var = squares[blocks:] - squares[:lags] - window_sum**2 / blocks
        # With the incoming envelope's mean removed, the reference's mean drops out.
        cross = np.correlate(ref, mic, mode="valid")
        scores = cross / (np.sqrt(np.maximum(window_var, 1e-9)) * mic_norm)
        return float(scores.max()) >= _MIN_ENVELOPE_CORRELATION

    def _reference_block(self, start: int, length: int) -> Floats | None:
        """Rows: for each incoming sample ``start + i``, the reference samples the path
        filter weighs (most recent first), or None when they are no longer kept."""
        assert self.delay is not None
        # Reference position of tap 0 for incoming sample n is n - delay; taps go back.
        first = start - self.delay - (self.taps - 1)
        segment = self._ref.measure().range(first, start + length - self.delay)
        if segment is None:
            return None
        # One gather into a contiguous block (row i: segment[i + taps - 1] down to
        # segment[i]); matrix products on a strided window view are several times slower.
        rows = self._rows.get(length)
        if rows is None:
            rows = self._rows[length] = (
                np.arange(length)[:, None] + np.arange(self.taps - 1, -1, -1)[None, :]
            )
        block: Floats = segment.astype(np.float64)[rows]
        return block

    def _adapt(self, block: Floats, incoming: Floats, frames: int = 1) -> None:
        forget = _FORGET**frames  # _FORGET is per 20 ms of audio
        self._normal = forget * self._normal + block.T @ block
        self._cross = forget * self._cross + block.T @ incoming
        ridge = 1e-3 * np.trace(self._normal) / self.taps + 1e-6
        self._weights = np.linalg.solve(self._normal + ridge * self._eye, self._cross)

    def _search_delay(self) -> None:
        """Find the echo's delay by cross-correlating the last second of both streams."""
        window = self._search_window()
        if window is None:
            return
        available, base, first = window
        segment = self._ref.measure().range(first, self._mic.end - base)
        assert segment is not None  # _search_window checked it is kept
        self.searches += 1
        mic = _decimate(self._mic.measure().last(available))
        ref = _decimate(segment)
        span = len(ref)
        # Circular correlation is exact for the lags kept once the FFT covers `span`.
        size = 1 << int(np.ceil(np.log2(span)))
        spectrum = np.fft.rfft(ref, size) * np.conj(np.fft.rfft(mic, size))
        # corr[k] = sum_t ref[t + k] * mic[t]; lag in ref terms: delay = (span - len(mic)) - k
        corr = np.fft.irfft(spectrum, size)[: span - len(mic) + 1]
        energy = np.cumsum(np.concatenate(([0.0], ref**2)))
        windowed = energy[len(mic) : span + 1] - energy[: span - len(mic) + 1]
        norm = np.sqrt(np.maximum(windowed, 1e-9) * _energy(mic) + 1e-9)
        scores = corr / norm
        best = int(np.argmax(scores))
        self.correlation = float(scores[best])
        if self.correlation < self.min_correlation:
            # No echo in this window, or one drowned by the contact talking: a path once
            # found is kept (where there is no echo, its adaptation takes it to zero).
            return
        delay = base + (span - len(mic) - best) * _DECIMATE - self.taps // 2
        if self.delay is None or abs(delay - self.delay) > self.taps // 4:
            self._forget_path()
            self.delay = delay

    def _forget_path(self) -> None:
        self.delay = None
        self._weights = np.zeros(self.taps)
        self._normal = np.zeros((self.taps, self.taps))
        self._cross = np.zeros(self.taps)


def _decimate(samples: Samples) -> Floats:
    """Sums of ``_DECIMATE`` consecutive samples (a scale does not change a normalised
    correlation). Strided additions: a mean over a short last axis is several times slower."""
    count = len(samples) // _DECIMATE
    decimated: Floats = samples[0 : count * _DECIMATE : _DECIMATE].astype(np.float64)
    for phase in range(1, _DECIMATE):
        decimated += samples[phase : count * _DECIMATE : _DECIMATE]
    return decimated


def _frame_energy(samples: Floats) -> float:
    """Sum of squares of one frame's samples (int16 values as floats). ``ndarray.dot`` rather
    than ``@`` (a third less time on a 20 ms frame) or :func:`_energy` (twice as long); the
    sum is exact either way (integers under 2**53), so every order gives the same float."""
    return float(samples.dot(samples))


def _energy(samples: Samples | Floats) -> float:
    """Sum of squares, in floats. Not ``samples @ samples``: OpenBLAS spreads a long dot
    product over threads, which costs more CPU than the product on a busy machine."""
    return float(np.einsum("i,i->", samples, samples, dtype=np.float64))
