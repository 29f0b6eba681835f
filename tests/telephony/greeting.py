"""Counting the agent's greeting in end-to-end tests: it is synthesized once, while the
phone rings (before the media stream connects), and that audio is what the callee hears."""

from __future__ import annotations

import asyncio

from voxline.voice.kit import VoiceKit
from voxline.voice.tts.base import TextToSpeech, VoiceInfo

# Words of the test agent's greeting ("Hello {{first_name}}, this is Ava.").
GREETING_WORDS = "this is Ava"


class CountingTts:
    """A kit's text-to-speech, counting what it was asked to say."""

    def __init__(self, inner: TextToSpeech) -> None:
        self.inner = inner
        self.name = inner.name
        self.texts: list[str] = []

    def voices(self) -> list[VoiceInfo]:
        return self.inner.voices()

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        self.texts.append(text)
        return await self.inner.synthesize(text, voice)

    def greetings(self) -> int:
        return sum(GREETING_WORDS in text for text in self.texts)

    async def wait_greetings(self, count: int, within: float = 60.0) -> None:
        async with asyncio.timeout(within):
            while self.greetings() < count:  # noqa: ASYNC110 - polls a count
                await asyncio.sleep(0.02)


def count_speech(kit: VoiceKit) -> CountingTts:
    """Wrap ``kit``'s text-to-speech (every session of its process uses it from now on)."""
    counting = CountingTts(kit.tts)
    kit.tts = counting
    return counting
