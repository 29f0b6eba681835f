"""The phone menu in audio mode hears keys played as tones in the agent's audio (real espeak
speech for the menu: slow, so one test)."""

from __future__ import annotations

import asyncio
import contextlib

from tests.telephony.sandbox.harness import request
from voxline.domain.calls import CallEvent
from voxline.telephony.base import ProviderEvent
from voxline.telephony.sandbox.audio_line import AudioEnd
from voxline.telephony.sandbox.carrier import AudioMode, SandboxCarrier
from voxline.telephony.sandbox.line import LineClosed, TextLine
from voxline.telephony.sandbox.personas import IVR_DEPARTMENTS, IVR_MENU
from voxline.voice.dtmf import tones
from voxline.voice.frames import FRAME_MS, AudioFrame, silence, split_frames
from voxline.voice.tts.espeak import EspeakTts
from voxline.voice.vad import EnergyVad, StreamingVad


async def _play(end: AudioEnd, frames: list[AudioFrame]) -> None:
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    for frame in frames:
        await end.send(frame)
        next_tick += FRAME_MS / 1000
        await asyncio.sleep(max(0.0, next_tick - loop.time()))


async def test_the_menu_hears_a_key_played_as_tones() -> None:
    events: list[ProviderEvent] = []
    ended = asyncio.Event()
    reached = IVR_DEPARTMENTS["1"].greeting

    async def sink(event: ProviderEvent) -> None:
        events.append(event)
        if event.event is CallEvent.HANGUP:
            ended.set()

    async def agent(call_id: str, end: TextLine | AudioEnd) -> None:
        assert isinstance(end, AudioEnd)
        call = next(iter(carrier.calls.values()))

        async def drain() -> None:
            with contextlib.suppress(LineClosed):
                while True:
                    await end.receive()

        async with asyncio.TaskGroup() as group:
            draining = group.create_task(drain())
            # The key while the menu plays, as a caller who knows the menu would.
            await _play(end, list(split_frames(silence(500) + tones("1") + silence(300))))
            async with asyncio.timeout(40):
                while reached not in call.callee_said:
                    await _play(end, list(split_frames(silence(200))))
            draining.cancel()
        end.hangup("agent")

    audio = AudioMode(tts=EspeakTts, vad=lambda: StreamingVad(EnergyVad()), voice="espeak-en-us-f3")
    carrier = SandboxCarrier(events=sink, on_answer=agent, time_scale=0.1, audio=audio)
    try:
        await carrier.place_call(request("+14155550109"))
        await asyncio.wait_for(ended.wait(), 60)
    finally:
        await carrier.aclose()
    call = next(iter(carrier.calls.values()))
    assert call.callee_said == [IVR_MENU, reached]
    assert [e.event for e in events] == [CallEvent.RINGING, CallEvent.ANSWERED, CallEvent.HANGUP]
