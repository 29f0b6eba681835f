"""The answering machine when the agent leaves a message: greeting, beep, then recording.

Answering-machine detection reports the machine right after the beep (as a carrier's
"detect message end" does), then the machine records what the agent says until the agent
hangs up, it has been quiet for ``RECORD_SILENCE_SECONDS`` or ``RECORD_MAX_SECONDS`` have
passed; then the machine hangs up. The agent's words before the beep are not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.line import AgentUtterance, TextLine
from voxline.telephony.sandbox.personas import BEEP_TEXT, VOICEMAIL_PROMPT
from voxline.voice.audio import rms_dbfs
from voxline.voice.channel import LineClosed
from voxline.voice.dtmf import BEEP_HZ, tone
from voxline.voice.frames import FRAME_MS, AudioFrame, silence, silence_frame, split_frames
from voxline.voice.tts.base import TextToSpeech

RECORD_SILENCE_SECONDS = 30.0
RECORD_MAX_SECONDS = 60.0
BEEP_MS = 400
# Real seconds the machine waits for the agent's first words at least, whatever the time
# scale: the agent's reply involves real work that the scale does not shrink.
MIN_REAL_SILENCE_SECONDS = 2.0
# Audio louder than this is the agent speaking (the agent's silence is digital zeros).
SOUND_DBFS = -50.0

OnBeep = Callable[[], Awaitable[None]]


@dataclass
class Voicemail:
    """What the machine recorded after its beep: the agent's words in text mode, its audio
    (16 kHz PCM16) in audio mode. ``beeped`` once the beep was played."""

    parts: list[str] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    beeped: bool = False

    @property
    def message(self) -> str:
        return " ".join(part for part in self.parts if part)


async def answer_text(line: TextLine, voicemail: Voicemail, on_beep: OnBeep) -> None:
    """The machine on a text line: the beep is a separate line, exactly :data:`BEEP_TEXT`."""
    try:
        await line.speak(VOICEMAIL_PROMPT)
        await line.speak(BEEP_TEXT)
        while await line.next_from_agent(0) is not None:
            pass  # said before the beep: not recorded
        voicemail.beeped = True
        await on_beep()
        await _record_text(line, voicemail)
    except LineClosed:
        return
    line.hangup("contact")


async def _record_text(line: TextLine, voicemail: Voicemail) -> None:
    loop = asyncio.get_running_loop()
    scale = max(line.time_scale, MIN_REAL_SILENCE_SECONDS / RECORD_SILENCE_SECONDS)
    deadline = loop.time() + RECORD_MAX_SECONDS * scale
    quiet = RECORD_SILENCE_SECONDS * scale
    while (left := deadline - loop.time()) > 0:
        try:
            item = await line.next_from_agent(min(quiet, left))
        except LineClosed:
            return
        if item is None:
            return
        if isinstance(item, AgentUtterance):
            voicemail.parts.append((await item.finished).text)


async def answer_audio(
    end: AudioEnd, tts: TextToSpeech, voice: str, voicemail: Voicemail, on_beep: OnBeep
) -> None:
    """The machine on an audio line: its greeting in its own voice, then a real 1 kHz beep."""
    try:
        greeting = await tts.synthesize(VOICEMAIL_PROMPT, voice)
        await _play(end, split_frames(greeting + silence(300) + tone(BEEP_HZ, BEEP_MS)))
        end.discard_received()
        voicemail.beeped = True
        await on_beep()
        async with asyncio.TaskGroup() as group:
            quiet = group.create_task(_keep_quiet(end))
            await _record_audio(end, voicemail)
            quiet.cancel()
    except LineClosed:
        return
    end.hangup("contact")


async def _keep_quiet(end: AudioEnd) -> None:
    """Send silence until the line closes, as a live call's media never stops."""

    def frames() -> Iterable[AudioFrame]:
        while True:
            yield silence_frame()

    with contextlib.suppress(LineClosed):
        await _play(end, frames())


async def _play(end: AudioEnd, frames: Iterable[AudioFrame]) -> None:
    """Send ``frames`` paced at real time (raises LineClosed once the line is closed)."""
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    for frame in frames:
        await end.send(frame)
        next_tick += FRAME_MS / 1000
        await asyncio.sleep(max(0.0, next_tick - loop.time()))


async def _record_audio(end: AudioEnd, voicemail: Voicemail) -> None:
    loop = asyncio.get_running_loop()
    started = last_sound = loop.time()
    while True:
        now = loop.time()
        if now - started >= RECORD_MAX_SECONDS or now - last_sound >= RECORD_SILENCE_SECONDS:
            return
        try:
            frame = await asyncio.wait_for(end.receive(), 1.0)
        except TimeoutError:
            continue
        except LineClosed:
            return
        voicemail.audio += frame.pcm
        if rms_dbfs(frame.pcm) > SOUND_DBFS:
            last_sound = loop.time()
