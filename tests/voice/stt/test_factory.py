"""Choosing the speech-to-text engine from the settings."""

from __future__ import annotations

import pytest

from voxline.config import Settings
from voxline.voice.stt import create_stt
from voxline.voice.stt.deepgram import DeepgramStt
from voxline.voice.stt.openai import OpenAIStt
from voxline.voice.stt.stream import StreamingSpeechToText
from voxline.voice.stt.whisper import WhisperStt

SECRET = "stt-secret-key-0042"


@pytest.mark.parametrize("engine", ["whisper", "local"])
def test_the_local_engine_is_whisper(engine: str) -> None:
    stt = create_stt(Settings(stt_engine=engine))
    assert isinstance(stt, WhisperStt) and not isinstance(stt, StreamingSpeechToText)


def test_openai_takes_its_server_model_and_key_from_the_settings() -> None:
    stt = create_stt(
        Settings(
            stt_engine="openai",
            stt_base_url="http://gpu.internal:8000/v1/",
            stt_api_key=SECRET,
            stt_model="Systran/faster-whisper-small",
        )
    )
    assert isinstance(stt, OpenAIStt) and not isinstance(stt, StreamingSpeechToText)
    assert stt.url == "http://gpu.internal:8000/v1/audio/transcriptions"
    assert stt.model == "Systran/faster-whisper-small"
    assert SECRET not in repr(stt)


def test_deepgram_streams_with_the_configured_endpointing() -> None:
    stt = create_stt(Settings(stt_engine="deepgram", stt_api_key=SECRET, stt_endpointing_ms=500))
    assert isinstance(stt, DeepgramStt) and isinstance(stt, StreamingSpeechToText)
    assert stt.url().startswith("wss://api.deepgram.com/v1/listen?model=nova-3&")
    assert "endpointing=500" in stt.url() and SECRET not in stt.url() + repr(stt)


def test_an_unknown_stt_engine_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(stt_engine="vosk")
