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
   looked for every 40 ms in the call's first two seconds (an echo is found within the
   agent's first ~100 ms of speech), every 200 ms later while no echo is known, and every
   second once one is. A peak below
   ``min_correlation`` means "no echo on this line".
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

Cost, measured on a loaded 2-core x86_64: ~0.15 ms per frame (p50), up to ~1 ms on a frame
that also runs the delay search. Pure numpy; no state is shared between calls.

Decision: written here rather than taken from a package. The AEC bindings on PyPI
(``speexdsp``, ``webrtc-audio-processing``, ``aec-audio-processing``) ship no wheels for
current Pythons (source builds needing system libraries and SWIG), and ``webrtc-noise-gain``
has no echo canceller. The telephone echo this must handle is a single delayed path, which a
delay search plus a short filter models well; an acoustic room echo would need a long
adaptive filter.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from voxline.voice.frames import SAMPLE_RATE

Floats = npt.NDArray[np.float64]

_DECIMATE = 4
_SEARCH_SAMPLES = SAMPLE_RATE  # one second of both streams for the delay search
_SEARCH_EVERY_FRAMES = 2  # while no echo is known, in the call's first 2 s
_SEARCH_LATER_EVERY_FRAMES = 10  # while no echo is known, later on
_TRACK_EVERY_FRAMES = 50
_FORGET = 0.9  # per frame, for the path's normal equations
_MISSES_BEFORE_SEARCH = 3
_MARGIN = SAMPLE_RATE // 10  # 100 ms of jitter between the two streams, in samples
_ACTIVE_RMS = 100.0  # int16 units (about -50 dBFS): quieter reference is no echo source


class EchoCanceller:
    """Removes the echo of the reference (outgoing) stream from the incoming stream.

    Not thread-safe; one per call. Frames are 16 kHz PCM16 of any length (normally 20 ms),
    passed in the order they were sent and received.
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
        keep = _SEARCH_SAMPLES + self.max_delay + 2 * _MARGIN + 2 * taps
        self._ref = np.zeros(keep)  # the last `keep` reference samples
        self._ref_end = 0  # samples of reference seen
        self._mic = np.zeros(_SEARCH_SAMPLES)
        self._mic_end = 0
        # The echo path: delay (samples, of the filter's first tap) and filter.
        self.delay: int | None = None
        self.correlation = 0.0
        self._weights = np.zeros(taps)
        self._normal = np.zeros((taps, taps))
        self._cross = np.zeros(taps)
        self._frames = 0
        self._since_search = _SEARCH_EVERY_FRAMES
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
        samples = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
        _push(self._ref, samples)
        self._ref_end += len(samples)

    def process(self, pcm16: bytes) -> bytes:
        """The next incoming frame with the agent's echo removed."""
        incoming = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
        start = self._mic_end
        _push(self._mic, incoming)
        self._mic_end += len(incoming)
        self._frames += 1
        self._since_search += 1
        if self.delay is not None:
            every = _TRACK_EVERY_FRAMES
        else:
            every = _SEARCH_EVERY_FRAMES if self._frames < 100 else _SEARCH_LATER_EVERY_FRAMES
        if (self._since_search >= every or self._misses >= _MISSES_BEFORE_SEARCH) and (
            self._reference_active()
        ):
            self._misses = 0
            self._since_search = 0
            self._search_delay()
        if self.delay is None:
            return pcm16
        block = self._reference_block(start, len(incoming))
        if block is None:
            return pcm16
        echo = block @ self._weights
        residual = incoming - echo
        echo_energy = float(echo @ echo)
        residual_energy = float(residual @ residual)
        incoming_energy = float(incoming @ incoming)
        reference_energy = float(np.einsum("ij,ij->", block, block)) / self.taps
        # Adapt while the reference sounds and the incoming frame is mostly explained by
        # the echo, or is well under the reference (an echo is attenuated; a talking
        # contact is not).
        sounding = reference_energy > _ACTIVE_RMS**2 * len(incoming)
        explained = residual_energy < 0.5 * incoming_energy
        # A frame quieter than the reference that the path does not explain: the echo may
        # have moved (the far end's clock slipped); a few in a row search again at once.
        moved = sounding and not explained and incoming_energy < 0.5 * reference_energy
        self._misses = self._misses + 1 if moved else 0
        if sounding and (explained or incoming_energy < 0.5 * reference_energy):
            self._adapt(block, incoming)
            echo = block @ self._weights
            residual = incoming - echo
            echo_energy = float(echo @ echo)
            residual_energy = float(residual @ residual)
        if echo_energy > 0 and residual_energy < self._suppress_ratio * echo_energy:
            residual = np.zeros_like(residual)
        return np.clip(np.rint(residual), -32768, 32767).astype(np.int16).tobytes()

    # Internals.

    def _reference_active(self) -> bool:
        recent = self._ref[-_SEARCH_SAMPLES:]
        return self._ref_end > 0 and float(np.sqrt(np.mean(recent**2))) > _ACTIVE_RMS

    def _reference_range(self, first: int, last: int) -> Floats | None:
        """Reference samples ``first`` to ``last`` (exclusive; stream positions), zero where
        not sent yet; None when they are no longer kept."""
        kept_from = self._ref_end - len(self._ref)
        if first < kept_from:
            return None
        stop = min(last, self._ref_end)
        segment = self._ref[first - kept_from : max(first, stop) - kept_from]
        if len(segment) < last - first:
            segment = np.concatenate((segment, np.zeros(last - first - len(segment))))
        return segment

    def _reference_block(self, start: int, length: int) -> Floats | None:
        """Rows: for each incoming sample ``start + i``, the reference samples the path
        filter weighs (most recent first), or None when they are no longer kept."""
        assert self.delay is not None
        # Reference position of tap 0 for incoming sample n is n - delay; taps go back.
        first = start - self.delay - (self.taps - 1)
        segment = self._reference_range(first, start + length - self.delay)
        if segment is None:
            return None
        windows = np.lib.stride_tricks.sliding_window_view(segment, self.taps)
        return np.asarray(windows[:, ::-1])

    def _adapt(self, block: Floats, incoming: Floats) -> None:
        self._normal = _FORGET * self._normal + block.T @ block
        self._cross = _FORGET * self._cross + block.T @ incoming
        ridge = 1e-3 * np.trace(self._normal) / self.taps + 1e-6
        self._weights = np.linalg.solve(self._normal + ridge * np.eye(self.taps), self._cross)

    def _search_delay(self) -> None:
        """Find the echo's delay by cross-correlating the last second of both streams."""
        available = min(self._mic_end, _SEARCH_SAMPLES) // _DECIMATE * _DECIMATE
        if available < SAMPLE_RATE // 10:
            return
        mic = _decimate(self._mic[-available:])
        # Lags searched: from where the reference stream is now (less a margin for the two
        # streams' scheduling jitter) to max_delay further back.
        end = self._mic_end
        base = (end - self._ref_end - _MARGIN) // _DECIMATE * _DECIMATE
        window = self._reference_range(end - available - base - self.max_delay, end - base)
        if window is None:
            return
        ref = _decimate(window)
        span = len(ref)
        size = 1 << int(np.ceil(np.log2(span + len(mic))))
        spectrum = np.fft.rfft(ref, size) * np.conj(np.fft.rfft(mic, size))
        # corr[k] = sum_t ref[t + k] * mic[t]; lag in ref terms: delay = (span - len(mic)) - k
        corr = np.fft.irfft(spectrum, size)[: span - len(mic) + 1]
        energy = np.cumsum(np.concatenate(([0.0], ref**2)))
        windowed = energy[len(mic) : span + 1] - energy[: span - len(mic) + 1]
        norm = np.sqrt(np.maximum(windowed, 1e-9) * float(mic @ mic) + 1e-9)
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


def _push(buffer: Floats, samples: Floats) -> None:
    """Append ``samples`` to a fixed-size history buffer (oldest samples fall out)."""
    n = len(samples)
    if n >= len(buffer):
        buffer[:] = samples[-len(buffer) :]
        return
    buffer[:-n] = buffer[n:]
    buffer[-n:] = samples


def _decimate(samples: Floats) -> Floats:
    usable = len(samples) - len(samples) % _DECIMATE
    decimated: Floats = samples[:usable].reshape(-1, _DECIMATE).mean(axis=1)
    return decimated
