"""Text-to-speech on any OpenAI-compatible ``/audio/speech`` server.

OpenAI and the self-hosted servers that implement its speech API (Kokoro-FastAPI, speaches,
LocalAI, vLLM-Omni) accept ``POST {base_url}/audio/speech`` with a JSON body ``{"model",
"input", "voice", "response_format"}`` and stream the audio back as the body. Voxline asks
for ``pcm``: raw 16-bit little-endian mono samples at 24 kHz (OpenAI's and Kokoro's rate;
``pcm_rate`` for a server that differs), or ``wav`` for a server without raw PCM, whose rate
is then read from the stream's own header.

The body is read as it arrives and resampled to 16 kHz chunk by chunk
(:class:`voxline.voice.remote.PcmDecoder`): :meth:`OpenAITts.stream` yields audio while the
server is still speaking, so what matters is the first chunk's latency, not the whole
clause's. Failures raise :class:`ProviderError` (``provider="openai-tts"``) by the rule of
:mod:`voxline.voice.remote`; messages never hold the key or the text.

Voices: the engine speaks with its configured voice (``VOXLINE_TTS_VOICE``, e.g. ``alloy`` on
OpenAI, ``af_heart`` on Kokoro). An agent's ``voice_id`` names a catalogue voice of the local
engines, so it is not sent to the server; :meth:`OpenAITts.voices` lists the configured one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from voxline.errors import ProviderError
from voxline.voice.remote import PcmDecoder, http_error, timed_out, unreachable
from voxline.voice.tts.base import VoiceInfo
from voxline.voice.voices import VOICES, Voice, VoiceProvider

PROVIDER = "openai-tts"
LABEL = "the text-to-speech server"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "tts-1"
DEFAULT_VOICE = "alloy"
OPENAI_PCM_RATE = 24_000
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
FORMATS = ("pcm", "wav")
_CATALOGUE = frozenset(voice.id for voice in VOICES)


class OpenAITts:
    """The :class:`~voxline.voice.tts.base.TextToSpeech` of an OpenAI-compatible server.

    Pass ``client`` to share a connection pool (then :meth:`aclose` leaves it open).
    """

    name = PROVIDER

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        voice: str = DEFAULT_VOICE,
        response_format: str = "pcm",
        pcm_rate: int = OPENAI_PCM_RATE,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if response_format not in FORMATS:
            raise ValueError(f"response_format must be one of {FORMATS}")
        self.url = base_url.rstrip("/") + "/audio/speech"
        self.model = model
        self.voice = voice
        self.response_format = response_format
        self.pcm_rate = pcm_rate
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owned = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:  # the headers hold the key: never show them
        return f"OpenAITts(url={self.url!r}, model={self.model!r}, voice={self.voice!r})"

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    def voices(self) -> list[VoiceInfo]:
        return [remote_voice(PROVIDER, self.voice)]

    def engine_voice(self, voice: str | None) -> str:
        """The server's voice for ``voice``: the configured one for None or a catalogue id."""
        return self.voice if voice is None or voice in _CATALOGUE else voice

    async def synthesize(self, text: str, voice: str | None = None) -> bytes:
        return b"".join([chunk async for chunk in self.stream(text, voice)])

    async def stream(self, text: str, voice: str | None = None) -> AsyncIterator[bytes]:
        """``text`` spoken, as 16 kHz PCM16 chunks while the server sends them."""
        if not text.strip():
            return
        body = {
            "model": self.model,
            "input": text,
            "voice": self.engine_voice(voice),
            "response_format": self.response_format,
        }
        decoder = (
            PcmDecoder(wav=True)
            if self.response_format == "wav"
            else PcmDecoder(rate=self.pcm_rate)
        )
        try:
            async with self._client.stream(
                "POST", self.url, json=body, headers=self._headers
            ) as response:
                if response.status_code >= 400:
                    raise http_error(PROVIDER, LABEL, response.status_code)
                kind = response.headers.get("content-type", "")
                if kind.startswith(("application/json", "text/")):
                    raise ProviderError(
                        f"{LABEL} answered {kind.split(';')[0]} instead of audio",
                        provider=PROVIDER,
                        retryable=False,
                    )
                async for data in response.aiter_bytes():
                    if pcm := decoder.feed(data):
                        yield pcm
            if tail := decoder.flush():
                yield tail
        except ValueError as exc:
            raise ProviderError(
                f"{LABEL} sent unplayable audio: {exc}", provider=PROVIDER, retryable=False
            ) from None
        except httpx.TimeoutException:
            raise timed_out(PROVIDER, LABEL) from None
        except httpx.HTTPError as exc:
            raise unreachable(PROVIDER, LABEL, exc) from None


def remote_voice(provider: str, voice: str) -> Voice:
    """A remote engine's configured voice, described like a catalogue voice (it is not in
    the catalogue: agents pick among local voices)."""
    return Voice(f"{provider}-{voice}", f"{voice} ({provider})", VoiceProvider.REMOTE, "", voice)
