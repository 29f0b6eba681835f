"""Choosing the text-to-speech engine from the settings, and routing voices to engines."""

from __future__ import annotations

import pytest

from voxline.config import Settings
from voxline.errors import ProviderError
from voxline.voice.tts import RoutedTts, SpokenText, create_tts
from voxline.voice.tts.espeak import EspeakTts
from voxline.voice.voices import Voice, VoiceProvider, installed_providers, voices_of


class FakeTts:
    """Says which engine and voice spoke, as the audio."""

    def __init__(self, name: str, provider: VoiceProvider) -> None:
        self.name = name
        self._voices = list(voices_of(provider))

    def voices(self) -> list[Voice]:
        return self._voices

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        return f"{self.name}:{voice}:{text}".encode()


class FakeTimedTts(FakeTts):
    """A :class:`FakeTts` that also times its one-word-per-byte-pair "audio"."""

    async def synthesize_timed(self, text: str, voice: str | None = None) -> SpokenText:
        words = text.split()
        return SpokenText(
            b"\0\0" * len(words), tuple((2 * i, 2 * i + 2) for i in range(len(words)))
        )


def settings(engine: str) -> Settings:
    return Settings(tts_engine=engine)


async def test_routed_tts_speaks_each_voice_with_its_own_engine() -> None:
    tts = RoutedTts(
        [FakeTts("piper", VoiceProvider.PIPER), FakeTts("espeak", VoiceProvider.ESPEAK_NG)]
    )

    assert await tts.synthesize("hi", "espeak-en-gb") == b"espeak:espeak-en-gb:hi"
    assert await tts.synthesize("hi", "en-us+f3") == b"espeak:en-us+f3:hi"
    assert await tts.synthesize("hi", "piper-en-us-joe") == b"piper:piper-en-us-joe:hi"
    assert await tts.synthesize("hi") == b"piper:None:hi"
    assert tts.name == "piper+espeak"
    assert tts.voices()[0].id == "piper-en-us-joe"


async def test_routed_timed_speech_is_timed_when_the_voices_engine_can_time_it() -> None:
    tts = RoutedTts(
        [FakeTimedTts("piper", VoiceProvider.PIPER), FakeTts("espeak", VoiceProvider.ESPEAK_NG)]
    )

    timed = await tts.synthesize_timed("hi there", "piper-en-us-joe")
    assert timed.word_spans == ((0, 2), (2, 4))
    untimed = await tts.synthesize_timed("hi there", "espeak-en-gb")
    assert untimed == SpokenText(b"espeak:espeak-en-gb:hi there")


async def test_an_unknown_voice_falls_back_to_the_default_voice() -> None:
    tts = RoutedTts([FakeTts("espeak", VoiceProvider.ESPEAK_NG)])

    assert await tts.synthesize("hi", "elevenlabs-rachel") == b"espeak:None:hi"


def test_espeak_setting_gives_espeak_only() -> None:
    tts = create_tts(settings("espeak"))

    assert isinstance(tts, EspeakTts)
    assert {voice.provider for voice in tts.voices()} == {VoiceProvider.ESPEAK_NG}


def test_auto_prefers_piper_when_installed() -> None:
    tts = create_tts(settings("auto"))

    expected = VoiceProvider.PIPER if VoiceProvider.PIPER in installed_providers() else None
    first = tts.voices()[0].provider
    assert first == (expected or VoiceProvider.ESPEAK_NG)
    assert VoiceProvider.ESPEAK_NG in {voice.provider for voice in tts.voices()}


def test_piper_setting_without_the_extra_is_an_error() -> None:
    if VoiceProvider.PIPER in installed_providers():
        assert create_tts(settings("piper")).voices()[0].provider is VoiceProvider.PIPER
    else:
        with pytest.raises(ProviderError):
            create_tts(settings("piper"))


async def test_created_engine_speaks_an_agent_voice() -> None:
    tts = create_tts(settings("auto"))

    assert len(await tts.synthesize("Hello.", "espeak-en-gb-f2")) > 8000


def test_unknown_engine_setting_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(tts_engine="festival")


@pytest.mark.parametrize("engine", ["openai", "cartesia"])
def test_a_remote_engine_speaks_first_and_catalogue_voices_stay_local(engine: str) -> None:
    secret = "sk-remote-tts-secret-1"
    tts = create_tts(Settings(tts_engine=engine, tts_api_key=secret, tts_voice="nova"))
    assert isinstance(tts, RoutedTts)
    remote = tts.engines[0]
    assert remote.name in ("openai-tts", "cartesia")
    assert [v.engine_voice for v in remote.voices()] == ["nova"]
    assert tts.engine_of(None) == (remote, None)
    # A voice an agent picked from the catalogue is spoken by its local engine.
    local, voice = tts.engine_of("espeak-en-gb")
    assert isinstance(local, EspeakTts) and voice == "espeak-en-gb"
    assert secret not in repr(remote) and secret not in repr(Settings(tts_api_key=secret))


def test_an_unknown_tts_engine_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(tts_engine="elevenlabs")
