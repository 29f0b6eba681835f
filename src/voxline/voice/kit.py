"""The speech models of one process, loaded once and shared by every live call."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voxline.config import Settings
from voxline.voice.end_of_turn import TurnModel
from voxline.voice.stt.base import SpeechToText
from voxline.voice.tts.base import TextToSpeech
from voxline.voice.vad import Endpointer, SileroVad, StreamingVad, Vad

if TYPE_CHECKING:
    from voxline.voice.vad_batch import SileroBatch


@dataclass(frozen=True, slots=True)
class SpeechModels:
    """What an audio session hears and speaks with; a text-line session needs none."""

    stt: SpeechToText
    tts: TextToSpeech
    vad: StreamingVad


class VoiceKit:
    """Lazily built STT and TTS engines, and a fresh VAD stream per call side (scored
    with the other calls' in one batch, :mod:`voxline.voice.vad_batch`)."""

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

    @functools.cached_property
    def vad_batch(self) -> SileroBatch:
        """The process's Silero session that scores every call's windows together."""
        from voxline.voice.vad_batch import SileroBatch

        return SileroBatch(threaded=self.settings.vad_thread)

    @functools.cached_property
    def turn_model(self) -> TurnModel | None:
        """Smart Turn v3 when enabled and installed (shared by every call), else None."""
        if not self.settings.end_of_turn_model:
            return None
        from voxline.voice.end_of_turn import shared_smart_turn

        return shared_smart_turn()

    def agent_vad(self) -> StreamingVad:
        """The agent's VAD: a short stop when the end-of-turn model decides after it, the
        full hang-over otherwise."""
        stop = self.settings.vad_stop_ms if self.turn_model is not None else None
        return self.vad(hangover_ms=stop)

    def vad(self, hangover_ms: float | None = None) -> StreamingVad:
        """A VAD stream for one call side: on the process's shared batch (``vad_batch``
        setting, the default), else on a Silero model of its own."""
        hangover = self.settings.vad_hangover_ms if hangover_ms is None else hangover_ms
        scorer: Vad = self.vad_batch.stream() if self.settings.vad_batch else SileroVad()
        return StreamingVad(scorer, Endpointer(hangover_ms=hangover))
