"""The simulated callee on an audio line: it speaks its persona's lines with its own voice
and listens to the agent with VAD, answering when the agent has finished (or talking over it,
for the interrupter; the backchanneler says "uh-huh" over the agent's turns and answers once
the agent is really done). The phone menu listens for keypad tones instead."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import numpy as np

from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.personas import (
    IVR_DEPARTMENTS,
    IVR_GOODBYE,
    IVR_INVALID,
    IVR_KEY_WAIT_SECONDS,
    IVR_MENU,
    IVR_MENUS_WITHOUT_KEY,
    Behaviour,
    Persona,
    line_parts,
    spoken,
)
from voxline.voice.channel import LineClosed
from voxline.voice.dtmf import DtmfDetector
from voxline.voice.frames import FRAME_MS, AudioFrame, silence_frame, split_frames
from voxline.voice.tts.base import SpokenText, TextToSpeech, TimedTextToSpeech
from voxline.voice.turn_gap import audible_blocks
from voxline.voice.vad import SPEECH_END, SPEECH_START, StreamingVad

THINKING_SECONDS = 0.4
FAREWELL_WAIT_SECONDS = 10.0
BARGE_IN_AFTER_SECONDS = 1.0
BACKCHANNEL_AFTER_SECONDS = 0.8
# Quiet from the agent for this long after a backchannel means its turn is over (an agent
# that paused to listen goes on well within it).
AGENT_DONE_SECONDS = 1.2


class AudioCallee:
    def __init__(
        self,
        persona: Persona,
        end: AudioEnd,
        tts: TextToSpeech,
        vad: StreamingVad,
        voice: str,
        said: list[str] | None = None,
        cut_ins: list[str] | None = None,
    ) -> None:
        self.persona = persona
        self.end = end
        self.tts = tts
        self.vad = vad
        self.voice = voice
        # What the callee said, in order, each line once it was fully played.
        self.said = said if said is not None else []
        # Lines with pauses the agent started answering before they were finished.
        self.cut_ins = cut_ins if cut_ins is not None else []
        self._pauses = 0
        self._agent_spoke = False
        self._dtmf = DtmfDetector() if persona.behaviour is Behaviour.IVR else None
        self._keys: asyncio.Queue[str] = asyncio.Queue()
        self._speech: deque[AudioFrame] = deque()
        self._agent_started = asyncio.Event()
        self._agent_ended = asyncio.Event()
        self._done_speaking = asyncio.Event()
        self._done_speaking.set()
        self._backchannels = 0

    async def run(self) -> None:
        """Play the persona until the line closes."""
        try:
            async with asyncio.TaskGroup() as group:
                sender = group.create_task(self._send())
                listener = group.create_task(self._listen())
                actor = group.create_task(self._act())
                await self.end.line.wait_closed()
                for task in (sender, listener, actor):
                    task.cancel()
        except LineClosed:
            return

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        with contextlib.suppress(LineClosed):
            while True:
                if self._speech:
                    frame = self._speech.popleft()
                    if not self._speech:
                        self._done_speaking.set()
                else:
                    frame = silence_frame()
                await self.end.send(frame)
                next_tick += FRAME_MS / 1000
                await asyncio.sleep(max(0.0, next_tick - loop.time()))

    async def _listen(self) -> None:
        with contextlib.suppress(LineClosed):
            while True:
                frame = await self.end.receive()
                if self._dtmf is not None:
                    for key in self._dtmf.feed(frame.pcm):
                        self._keys.put_nowait(key)
                for event in await self.vad.hear(frame):
                    if event is SPEECH_START:
                        self._agent_ended.clear()
                        self._agent_started.set()
                        self._agent_spoke = True
                    elif event is SPEECH_END:
                        self.vad.take_utterance()
                        self._agent_started.clear()
                        self._agent_ended.set()

    async def _say(self, text: str) -> None:
        """Say ``text``, pausing at its pause marks; an agent starting to talk during a
        pause is a premature cut-in (noted in :attr:`cut_ins`)."""
        parts = line_parts(text) or [text]
        if len(parts) > 1 and self.persona.pauses:
            pcm = await self._with_pauses(parts, spoken(text))
        else:
            pcm = await self.tts.synthesize(spoken(text), self.voice)
        self._agent_spoke = False
        self._done_speaking.clear()
        self._speech.extend(split_frames(pcm))
        await self._done_speaking.wait()
        if len(parts) > 1 and self._agent_spoke:
            self.cut_ins.append(spoken(text))
        self.said.append(spoken(text))

    async def _with_pauses(self, parts: list[str], line: str) -> bytes:
        """The whole line's audio (said in one go, so its voice carries on over each pause,
        as a person's does mid-sentence) with silence inserted at each part's end: between
        the part's last word and the next part's first, where the voice timed its words
        (:func:`cuts_between_words`); else the quietest 20 ms near where the part said alone
        would end, which can land a short word early or late."""
        if isinstance(self.tts, TimedTextToSpeech):
            timed = await self.tts.synthesize_timed(line, self.voice)
        else:
            timed = SpokenText(await self.tts.synthesize(line, self.voice))
        pcm = timed.pcm
        cuts = cuts_between_words(parts, timed)
        if cuts is None:
            cuts = []
            for index in range(1, len(parts)):
                alone = await self.tts.synthesize(" ".join(parts[:index]), self.voice)
                cuts.append(_quietest_near(pcm, _audible_end(alone)))
        pieces, start = [], 0
        for cut in cuts:
            pause = self.persona.pauses[self._pauses % len(self.persona.pauses)]
            self._pauses += 1
            pieces += [pcm[start:cut], bytes(int(pause * 16000) * 2)]
            start = cut
        return b"".join([*pieces, pcm[start:]])

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _act(self) -> None:
        behaviour = self.persona.behaviour
        if behaviour is Behaviour.HANGS_UP:
            await self._pause(0.5)
            self.end.hangup("contact")
        elif behaviour is Behaviour.SILENT:
            await self.end.line.wait_closed()
        elif behaviour is Behaviour.IVR:
            await self._phone_menu()
        elif behaviour is Behaviour.FILIBUSTER:
            index = 0
            while True:
                await self._say(self.persona.lines[index % len(self.persona.lines)])
                index += 1
        else:
            await self._converse()

    async def _phone_menu(self) -> None:
        """As the text callee's menu; keys are heard as tones, in real seconds."""
        unanswered = 0
        while True:
            await self._say(IVR_MENU)
            try:
                key: str | None = await asyncio.wait_for(self._keys.get(), IVR_KEY_WAIT_SECONDS)
            except TimeoutError:
                key = None
            if key is None:
                unanswered += 1
                if unanswered < IVR_MENUS_WITHOUT_KEY:
                    continue
                await self._say(IVR_GOODBYE)
                self.end.hangup("contact")
                return
            department = IVR_DEPARTMENTS.get(key)
            if department is None:
                await self._say(IVR_INVALID)
                continue
            await self._say(department.greeting)
            # The tones may have read as speech to the VAD: wait for the agent's words.
            self._agent_ended.clear()
            await self._converse(department.lines)
            return

    async def _backchannel(self) -> None:
        """Say the next backchannel while the agent talks, then wait for its turn's end."""
        await self._agent_started.wait()
        try:
            await asyncio.wait_for(self._agent_ended.wait(), BACKCHANNEL_AFTER_SECONDS)
        except TimeoutError:
            words = self.persona.backchannels
            await self._say(words[self._backchannels % len(words)])
            self._backchannels += 1
        while True:
            await self._agent_ended.wait()
            await self._pause(AGENT_DONE_SECONDS)
            if not self._agent_started.is_set():
                return

    async def _converse(self, lines: tuple[str, ...] | None = None) -> None:
        for line in self.persona.lines if lines is None else lines:
            if self.persona.barge_in_at is not None:
                await self._agent_started.wait()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._agent_ended.wait(), BARGE_IN_AFTER_SECONDS)
            elif self.persona.backchannels:
                await self._backchannel()
                await self._pause(THINKING_SECONDS)
            else:
                await self._agent_ended.wait()
                await self._pause(THINKING_SECONDS)
            self._agent_ended.clear()
            await self._say(line)
        if self.persona.hangs_up_after_lines:
            await self._pause(THINKING_SECONDS)
            self.end.hangup("contact")
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._agent_ended.wait(), FAREWELL_WAIT_SECONDS)
        await self._pause(THINKING_SECONDS)
        self.end.hangup("contact")


_BLOCK = 320  # 10 ms of 16 kHz PCM16


def cuts_between_words(parts: list[str], line: SpokenText) -> list[int] | None:
    """Where to pause after each part but the last (byte offsets into ``line.pcm``): the
    quietest 20 ms between the part's last word and the next one's first, by the words'
    timings. None when the speech has no timings or not one per word of the parts."""
    counts = [len(part.split()) for part in parts]
    spans = line.word_spans
    if len(spans) != sum(counts):
        return None
    cuts, words = [], 0
    for count in counts[:-1]:
        words += count
        cuts.append(_quietest_between(line.pcm, spans[words - 1][1], spans[words][0]))
    return cuts


def _quietest_between(pcm: bytes, low: int, high: int) -> int:
    """The start of the quietest 20 ms of ``pcm[low:high]`` (``low`` when it is shorter)."""
    window = 20 * _BLOCK // 10
    if high - low <= window:
        return low // 2 * 2
    return _quietest_near(pcm, (low + high - window) // 2 // 2 * 2, (high - low - window) // 2)


def _audible_end(pcm: bytes) -> int:
    """Where the last audible 10 ms block of ``pcm`` ends (bytes)."""
    loud = np.flatnonzero(audible_blocks(pcm))
    return int(loud[-1] + 1) * _BLOCK if loud.size else len(pcm)


def _quietest_near(pcm: bytes, around: int, reach: int = 20 * _BLOCK) -> int:
    """The start of the quietest 20 ms of ``pcm`` within ``reach`` bytes of ``around``."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32)
    low = max(0, around - reach) // 2
    high = min(samples.size - 320, (around + reach) // 2)
    if high <= low:
        return min(len(pcm), max(0, around)) // 2 * 2
    energy = np.convolve(samples[low : high + 320] ** 2, np.ones(320), mode="valid")
    return int(low + int(np.argmin(energy))) * 2
