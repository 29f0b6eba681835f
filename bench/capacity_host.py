"""The process under test of the capacity benchmark: a real Voxline engine (what
``voxline worker`` runs, configured from ``VOXLINE_*``) plus instruments.

- A **frame clock probe**: a task that wakes every 20 ms on an absolute schedule and records
  how late it woke, as a media frame pump on the same event loop would.
- In ``--mode audio``, every live call the engine hosts also gets the media path of an
  audio call with the speech models off: each 20 ms the contact's 8 kHz μ-law frame is
  decoded, resampled to 16 kHz and fed to the VAD (Silero), the agent's 16 kHz frame is
  resampled to 8 kHz and μ-law encoded, and both sides go to the stereo WAV recorder. Each
  call's own frame lateness is recorded too. ``--vad batched`` (the default, as Voxline's
  sessions do) scores every call's VAD windows of one loop turn in one model call
  (``voxline.voice.vad_batch``) and awaits them as ``CallSession`` does; ``--vad per-call``
  gives each call a Silero model of its own, as before. The batch's model runs on a thread
  of its own, as in a session (``VOXLINE_VAD_THREAD=false``, ``bench.capacity --vad-thread
  off``: on the event loop's thread). ``--media shared`` (the default, as ``CallSession``
  does) paces every call from the loop's one 20 ms ticker
  (``voxline.voice.ticker``) and plays the agent's speech resampled to 8 kHz once per
  utterance (``voxline.voice.playback``); ``--media per-call`` gives each call a sleeping
  clock of its own and resamples the agent's 16 kHz frames 20 ms at a time, as before.
  ``--gate on`` (the default, as ``CallSession`` does) also runs each call's barge-in gate
  (``voxline.voice.barge_in``): the echo canceller cleans every contact frame before the VAD
  with the agent's frames as its reference, speech over the agent holds its playback, and the
  gate's decisions resume or cut it. Speech models stay off: the gate's transcriptions are
  answered by ``voxline.testing.FakeStt`` (no words heard), so it judges on duration only.
  ``--gate off`` feeds the VAD the contact's frames as they come, as before.
  ``VOXLINE_MEDIA_PHASES`` (``bench.capacity --phases``; 1 by default, as the setting)
  spreads the calls' frames over that many slots of the ticker's period
  (``voxline.voice.ticker``), as sessions do with that setting; 1 wakes them all on one tick.
  ``--stalls`` samples the loop thread's stack while the loop is late (:class:`StallSampler`)
  and adds the most common stacks to the window's statistics.
- Each call runs as a session does: its media clock (the agent's side, on the shared ticker)
  and its listener (the contact's side, fed each 20 ms frame as a transport would hand it
  over) are two tasks, so a clock never waits for the VAD's batch. With
  ``VOXLINE_MEDIA_BLOCK_MS`` (``bench.capacity --block-ms``) both sides take blocks of 20 ms
  frames, as sessions do with that setting: the ticker's period is the block, and the
  listener hears the frames of a block at once (each still decoded and resampled as it
  arrives, as a carrier's codec does).

Control: ``SIGUSR1`` opens a measurement window, ``SIGUSR2`` closes it and writes the
window's statistics to ``--stats``; ``<stats>.live`` is rewritten twice a second with the
number of live calls. ``SIGTERM`` stops the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from voxline.cli import freeze_startup_heap, single_threaded_blas
from voxline.config import load_settings
from voxline.engine.runner import Engine
from voxline.logging import configure_logging
from voxline.storage.db import Database
from voxline.voice.audio import Resampler, mulaw_to_pcm16, pcm16_to_mulaw
from voxline.voice.barge_in import BargeInGate
from voxline.voice.frames import FRAME_MS, frame_bytes
from voxline.voice.interruptions import Verdict
from voxline.voice.playback import Playback, Utterance
from voxline.voice.recorder import CallRecorder
from voxline.voice.ticker import PHASES, shared_ticker
from voxline.voice.turns import HeardAudio
from voxline.voice.vad import SPEECH_END, SPEECH_START, SileroVad, StreamingVad, VadEvent

# The voice modules above are the engine's own (its sessions import them): importing them
# here costs the text mode nothing, and keeps imports out of the per-frame functions below.

FRAME_SECONDS = 0.02


class Window:
    """Lateness samples (ms) collected between SIGUSR1 and SIGUSR2."""

    def __init__(self) -> None:
        self.open = False
        self.probe: list[float] = []
        self.frames: list[float] = []
        self.frames_total = 0
        self.collections: list[float] = []
        self._collecting_since = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # Full collections stop the event loop for as long as they take: record them.
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collecting_since = time.perf_counter()
        elif self.open:
            self.collections.append((time.perf_counter() - self._collecting_since) * 1000)

    def start(self) -> None:
        self.probe.clear()
        self.frames.clear()
        self.collections.clear()
        self.frames_total = 0
        self.open = True

    def dump(self, path: Path, live: int, stalls: StallSampler | None = None) -> None:
        self.open = False
        payload: dict[str, Any] = {
            "live": live,
            "probe": _summary(self.probe),
            "frames": _summary(self.frames),
            "frames_total": self.frames_total,
            "full_gc": {
                "count": len(self.collections),
                "max_ms": max(self.collections, default=0.0),
            },
        }
        if stalls is not None:
            payload["stalls"] = stalls.summary()
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload))
        temporary.replace(path)


class StallSampler:
    """What the event loop runs while it is late: a thread looks every 2 ms at a heartbeat
    the loop refreshes each millisecond, and when it is more than ``threshold_ms`` old takes
    the loop thread's stack (its innermost frames, file:function), counted while the window
    is open. A poor man's py-spy of one question, switched on by ``--stalls``."""

    def __init__(self, window: Window, threshold_ms: float = 10.0, depth: int = 6) -> None:
        self.window = window
        self.threshold = threshold_ms / 1000
        self.depth = depth
        self.beat = time.perf_counter()
        self.samples = 0
        self.stacks: Counter[tuple[str, ...]] = Counter()
        self.functions: Counter[str] = Counter()
        self._loop_thread = threading.get_ident()

    async def heartbeat(self) -> None:
        while True:
            self.beat = time.perf_counter()
            await asyncio.sleep(0.001)

    def start(self) -> None:
        threading.Thread(target=self._sample, name="stall-sampler", daemon=True).start()

    def _sample(self) -> None:
        while True:
            time.sleep(0.002)
            if not self.window.open or time.perf_counter() - self.beat < self.threshold:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            stack: list[str] = []
            seen: set[str] = set()
            while frame is not None:
                code = frame.f_code
                name = f"{Path(code.co_filename).name}:{code.co_name}"
                if len(stack) < self.depth:
                    stack.append(name)
                if name not in seen:  # every function on the stack, once per sample
                    seen.add(name)
                    self.functions[name] += 1
                frame = frame.f_back
            self.samples += 1
            self.stacks[tuple(stack)] += 1

    def summary(self) -> dict[str, Any]:
        samples, stacks, functions = self.samples, self.stacks.copy(), self.functions.copy()
        self.samples, self.stacks, self.functions = 0, Counter(), Counter()
        return {
            "samples": samples,
            "top_stacks": [[list(k), n] for k, n in stacks.most_common(15)],
            "top_functions": functions.most_common(40),
        }


def _summary(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"n": 0}
    ordered = np.sort(np.asarray(samples))
    return {
        "n": len(samples),
        "p50_ms": float(np.percentile(ordered, 50)),
        "p99_ms": float(np.percentile(ordered, 99)),
        "max_ms": float(ordered[-1]),
    }


async def probe(window: Window) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due += FRAME_SECONDS
        await asyncio.sleep(max(0.0, due - loop.time()))
        late = loop.time() - due
        if window.open:
            window.probe.append(late * 1000)
        if late > 1.0:
            due = loop.time()  # far behind: resynchronise rather than burst


def _test_signal(
    rate: int,
    seconds: float,
    pitch: float,
    *,
    syllables_hz: float = 4.0,
    on_s: float = 1.5,
    period_s: float = 2.5,
) -> bytes:
    """Speech-like PCM16: a buzz with harmonics, syllable-modulated, ``on_s`` on in every
    ``period_s`` (1.5 s on, 1 s off)."""
    t = np.arange(int(rate * seconds)) / rate
    buzz = sum(np.sin(2 * math.pi * pitch * k * t) / k for k in range(1, 8))
    envelope = (0.5 + 0.5 * np.sin(2 * math.pi * syllables_hz * t)) * ((t % period_s) < on_s)
    return (buzz * envelope * 6000).astype("<i2").tobytes()


# The contact talks in a rhythm of its own (3.3 Hz syllables, 1.9 s on in every 3.3 s; the
# loop is two of those periods), not in the agent's: a contact whose loudness rose and fell
# with the agent's, at a fixed lag, would be an echo of the agent to the echo canceller.
CONTACT_SIGNAL = {"seconds": 6.6, "syllables_hz": 3.3, "on_s": 1.9, "period_s": 3.3}


class AudioCalls:
    """The media path of every live call (speech models off); see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        window: Window,
        recordings: Path,
        vad: str,
        media_path: str,
        gate: bool = True,
        phases: int = PHASES,
        block_ms: int = FRAME_MS,
    ) -> None:
        self.engine = engine
        self.block_ms = block_ms
        self.gate = gate
        self.phases = phases
        self.vad = vad
        self.media_path = media_path
        self.window = window
        self.recordings = recordings
        self.contact_ulaw = pcm16_to_mulaw(_test_signal(8000, pitch=140.0, **CONTACT_SIGNAL))
        self.agent_pcm = _test_signal(16000, 5.0, 210.0)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.started = 0

    async def run(self) -> None:
        if self.vad == "batched":
            # The process's one model session, loaded off the event loop.
            await asyncio.to_thread(lambda: self.engine.voice.vad_batch)
        while True:
            hosted = set(self.engine.sessions.leases.hosted)
            for call_id in hosted - self.tasks.keys():
                self.tasks[call_id] = asyncio.create_task(self.media(call_id))
            for call_id in self.tasks.keys() - hosted:
                self.tasks.pop(call_id).cancel()
            await asyncio.sleep(0.2)

    async def media(self, call_id: str) -> None:
        if self.vad == "batched":
            vad = StreamingVad(self.engine.voice.vad_batch.stream())
        else:
            # Loading the model takes tens of ms: off the event loop, as a session would.
            vad = StreamingVad(await asyncio.to_thread(SileroVad))
        shared = self.media_path == "shared"
        call = CallMedia(
            vad,
            self.recordings,
            call_id,
            self.contact_ulaw,
            self.agent_pcm,
            shared_media=shared,
            gate=self.gate,
            block_ms=self.block_ms,
        )
        # Calls out of step with each other, as real ones are (bench.audio_cpu does the
        # same): the engine places the calls of a level within a second, and calls started
        # on the same tick would otherwise speak, start utterances and be searched for echo
        # on the same ticks for ever.
        self.started += 1
        call.index = 37 * self.started
        call.agent_after = 7 * self.started % 125  # the agent's first words: within 2.5 s
        loop = asyncio.get_running_loop()
        period = self.block_ms / 1000
        seat = (
            shared_ticker(loop.time, asyncio.sleep, self.phases, period).join() if shared else None
        )
        # The contact's frames go to a listener of their own, as a session's transport hands
        # them to its `_listen` task: the media clock never waits for the VAD's batch.
        arrived: asyncio.Queue[bytes] = asyncio.Queue()
        listener = asyncio.create_task(self.listen(call, arrived))
        due = loop.time()
        try:
            while True:
                if seat is not None:
                    await seat.wait()
                    due = seat.due()
                else:
                    due += period
                    await asyncio.sleep(max(0.0, due - loop.time()))
                if self.window.open:
                    self.window.frames.append((loop.time() - due) * 1000)
                    self.window.frames_total += 1
                call.play()
                for _ in range(call.block_frames):  # as a carrier sends them: 20 ms each
                    arrived.put_nowait(call.next_contact())
        finally:
            listener.cancel()
            if seat is not None:
                seat.leave()
            call.close()

    async def listen(self, call: CallMedia, arrived: asyncio.Queue[bytes]) -> None:
        # As CallSession._listen: a block is the frames received one by one, heard at once.
        while True:
            await call.hear([await arrived.get() for _ in range(call.block_frames)])


class CallMedia:
    """One audio call's work per 20 ms frame, speech models off (see the module docstring):
    the contact's μ-law frame decoded, resampled and (through the barge-in gate's echo
    canceller, with ``gate``) heard by the VAD, the gate's decision applied to the
    playback, the agent's frame encoded, and both sides recorded."""

    def __init__(
        self,
        vad: StreamingVad,
        recordings: Path,
        call_id: str,
        contact_ulaw: bytes,
        agent_pcm: bytes,
        *,
        shared_media: bool = True,
        gate: bool = True,
        block_ms: int = FRAME_MS,
    ) -> None:
        from voxline.testing.speech import FakeStt

        self.vad = vad
        self.up, self.down = Resampler(8000, 16000), Resampler(16000, 8000)
        self.recorder = CallRecorder(recordings, call_id)
        self.gate = BargeInGate(FakeStt()) if gate else None
        self.shared = shared_media
        # The agent's speech: 2.5 s utterances, resampled to 8 kHz once each when queued
        # (shared), or 16 kHz frames resampled 20 ms at a time (per-call).
        self.playback = Playback(line_rate=8000 if shared_media else 16000, block_ms=block_ms)
        self.block_frames = block_ms // FRAME_MS
        halves = len(agent_pcm) // 2
        self.utterances = (agent_pcm[:halves], agent_pcm[halves:])
        self.contact_ulaw = contact_ulaw
        self.index = 0  # into the contact's signal, in frames
        self.frames = 0  # played
        # The last block played (16 kHz), recorded beside the contact's.
        self.agent = bytes(frame_bytes(frame_ms=block_ms))
        self.agent_after = 0  # frames of the call before the agent first speaks

    async def frame(self) -> None:
        """One frame of both sides in turn, on one task (``bench.audio_cpu``, which times the
        path's CPU, not its scheduling)."""
        self.play()
        await self.hear([self.next_contact() for _ in range(self.block_frames)])

    def next_contact(self) -> bytes:
        """The contact's next 20 ms of 8 kHz μ-law, as a carrier sends it."""
        start = self.index * 160 % (len(self.contact_ulaw) - 160)
        self.index += 1
        return self.contact_ulaw[start : start + 160]

    def play(self) -> None:
        """The agent's side of one frame, as ``CallSession._media_clock`` does it on the
        media ticker: the next played frame, the echo canceller's reference, the line's
        μ-law."""
        gate, playback = self.gate, self.playback
        if not playback.active and self.frames >= self.agent_after:
            playback.enqueue(Utterance(0, AGENT_SAYS, self.utterances[self.index % 2]))
        played = playback.next_played()
        if playback.finished:  # a session moves them to its transcript: none are kept here
            playback.take_finished()
        if gate is not None:
            gate.played(played.pcm, AGENT_SAYS if played.utterance else None)
        if self.shared:
            pcm16_to_mulaw(played.line.pcm)
        else:
            pcm16_to_mulaw(self.down.process(played.pcm))
        self.agent = played.pcm
        self.frames += self.block_frames

    async def hear(self, frames: list[bytes]) -> None:
        """The contact's side of one block, as ``CallSession._listen`` does it: each 20 ms
        frame decoded and resampled as it arrives (a carrier transport's codec), then the
        block cleaned of the agent's echo, heard by the VAD, the barge-in gate's decision
        applied, and both sides recorded."""
        up = self.up
        pieces = [up.process(mulaw_to_pcm16(ulaw)) for ulaw in frames]
        contact = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        gate = self.gate
        if gate is None:
            await self.vad.hear(contact)
        else:
            events = await self.vad.hear(gate.clean(contact))
            _barge_in(gate, self.vad, self.playback, events)
        self.recorder.write(self.agent, contact)

    def close(self) -> None:
        if self.gate is not None:
            self.gate.close()
        self.recorder.close()


AGENT_SAYS = "I am calling to confirm your appointment on Thursday at two in the afternoon."


def _barge_in(
    gate: BargeInGate, vad: StreamingVad, playback: Playback, events: list[VadEvent]
) -> None:
    """What ``CallSession``'s listener does with the VAD's events and the gate's decision
    (``_listen``, ``_judge_barge_in``, ``_barge_in``), without the turn book-keeping."""
    for event in events:
        if event is SPEECH_START and playback.active:
            playback.hold()
            gate.open_at(vad, playback.remaining_s)
        elif event is SPEECH_END:
            pcm = vad.take_utterance()
            if pcm and gate.open:
                gate.ended(HeardAudio(pcm, 0.0, 0.0, 0.0), vad)
    decision = gate.poll(vad)
    if decision is None:
        return
    if decision.verdict is Verdict.INTERRUPT and playback.active:
        playback.cut()
    elif decision.resume or decision.verdict is Verdict.INTERRUPT:
        playback.resume()


async def main(
    stats: Path,
    mode: str,
    vad: str,
    media_path: str,
    gate: bool,
    stalls: bool = False,
) -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    db = Database(settings.resolved_database_url)
    engine = Engine(db, settings)
    window = Window()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    sampler = StallSampler(window) if stalls else None
    loop.add_signal_handler(signal.SIGUSR1, window.start)
    loop.add_signal_handler(
        signal.SIGUSR2, lambda: window.dump(stats, len(engine.sessions.leases.hosted), sampler)
    )

    async def report_live() -> None:
        live = stats.with_suffix(".live")
        while True:
            live.with_suffix(".livetmp").write_text(str(len(engine.sessions.leases.hosted)))
            live.with_suffix(".livetmp").replace(live)
            await asyncio.sleep(0.5)

    helpers: list[asyncio.Task[Any]] = [
        asyncio.create_task(probe(window)),
        asyncio.create_task(report_live()),
    ]
    if sampler is not None:
        helpers.append(asyncio.create_task(sampler.heartbeat()))
        sampler.start()
    if mode == "audio":
        audio = AudioCalls(
            engine,
            window,
            settings.recordings_dir,
            vad,
            media_path,
            gate,
            settings.media_phases,  # VOXLINE_MEDIA_PHASES and
            settings.media_block_ms,  # VOXLINE_MEDIA_BLOCK_MS, as a session takes them
        )
        helpers.append(asyncio.create_task(audio.run()))
    single_threaded_blas()  # as `voxline worker` does before it runs its engine
    freeze_startup_heap()
    try:
        await engine.run(stop)
    finally:
        for task in helpers:
            task.cancel()
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Voxline engine with capacity instruments")
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--mode", choices=["text", "audio"], default="text")
    parser.add_argument("--vad", choices=["batched", "per-call"], default="batched")
    parser.add_argument("--media", choices=["shared", "per-call"], default="shared")
    parser.add_argument("--gate", choices=["on", "off"], default="on")
    parser.add_argument("--stalls", action="store_true", help="sample the loop's stalls")
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.stats,
            arguments.mode,
            arguments.vad,
            arguments.media,
            arguments.gate == "on",
            arguments.stalls,
        )
    )
