"""Response bodies of ``/voices``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from voxline.voice import voices as catalogue
from voxline.voice.voices import VoiceProvider, VoiceStatus, VoiceType


class Voice(BaseModel):
    id: str = Field(description='Voice id to use as an agent\'s voice_id, e.g. "espeak-en-us"')
    name: str
    provider: VoiceProvider = Field(description="The speech engine that speaks with this voice")
    type: VoiceType
    language: str = Field(description="BCP-47 language tag")
    status: VoiceStatus

    @classmethod
    def of(cls, voice: catalogue.Voice) -> Voice:
        return cls(
            id=voice.id,
            name=voice.name,
            provider=voice.provider,
            type=voice.type,
            language=voice.language,
            status=voice.status,
        )
