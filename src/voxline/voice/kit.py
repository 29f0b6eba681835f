"""The speech models of one process, loaded once and shared by every live call."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from voxline.config import Settings
from voxline.voice.stt.base import SpeechToText
from voxline.voice.tts.base import TextToSpeech
from voxline.voice.vad import Endpointer, SileroVad, StreamingVad


@dataclass(frozen=True, slots=True)
class SpeechModels:
    """What an audio session hears and speaks with; a text-line session needs none."""

    stt: SpeechToText
    tts: TextToSpeech
    vad: StreamingVad


class VoiceKit:
    """Lazily built STT and TTS engines, and a fresh VAD stream per call side."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @functools.cached_property
    def tts(self) -> TextToSpeech:
        from voxline.voice.tts import create_tts

        return create_tts(self.settings)

    @functools.cached_property
    def stt(self) -> SpeechToText:
        from voxline.voice.stt import create_stt

        return create_stt(self.settings)

    def vad(self, hangover_ms: float | None = None) -> StreamingVad:
        hangover = self.settings.vad_hangover_ms if hangover_ms is None else hangover_ms
        return StreamingVad(SileroVad(), Endpointer(hangover_ms=hangover))
