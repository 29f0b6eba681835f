"""Speech-to-text on any OpenAI-compatible ``/audio/transcriptions`` server.

OpenAI itself, and the self-hosted servers that implement its audio API (speaches, formerly
faster-whisper-server; vLLM serving a Whisper model; LocalAI), accept the same request:
``POST {base_url}/audio/transcriptions`` with a ``multipart/form-data`` body holding the
utterance as ``file`` (a WAV here: 16 kHz PCM16 mono, as Voxline hears it), ``model`` and
``response_format=json``, and answer ``{"text": "..."}``. An optional ``language`` (ISO-639-1)
skips the server's language detection.

Batch: the whole utterance goes up once the VAD has ended the contact's turn, so a turn costs
one round trip plus the server's decoding. Failures raise :class:`ProviderError`
(``provider="openai-stt"``) by the rule of :mod:`voxline.voice.remote`; messages never hold
the key or what was said.
"""

from __future__ import annotations

import json

import httpx

from voxline.errors import ProviderError
from voxline.voice.frames import SAMPLE_RATE
from voxline.voice.remote import http_error, pcm16_wav, timed_out, unreachable

PROVIDER = "openai-stt"
LABEL = "the speech-to-text server"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "whisper-1"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=5.0)
# Below this much audio there is nothing to transcribe: no request is made.
MIN_SECONDS = 0.1


class OpenAIStt:
    """The :class:`~voxline.voice.stt.base.SpeechToText` of an OpenAI-compatible server.

    Pass ``client`` to share a connection pool (then :meth:`aclose` leaves it open).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        language: str | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/audio/transcriptions"
        self.model = model
        self.language = language
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owned = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)

    def __repr__(self) -> str:  # the headers hold the key: never show them
        return f"OpenAIStt(url={self.url!r}, model={self.model!r})"

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()

    async def transcribe(self, pcm16_16k: bytes) -> str:
        if len(pcm16_16k) < MIN_SECONDS * SAMPLE_RATE * 2:
            return ""
        data = {"model": self.model, "response_format": "json"}
        if self.language:
            data["language"] = self.language
        files = {"file": ("utterance.wav", pcm16_wav(pcm16_16k), "audio/wav")}
        try:
            response = await self._client.post(
                self.url, data=data, files=files, headers=self._headers
            )
        except httpx.TimeoutException:
            raise timed_out(PROVIDER, LABEL) from None
        except httpx.HTTPError as exc:
            raise unreachable(PROVIDER, LABEL, exc) from None
        if response.status_code >= 400:
            raise http_error(PROVIDER, LABEL, response.status_code)
        try:
            text = json.loads(response.content)["text"]
        except (ValueError, KeyError, TypeError):
            text = None
        if not isinstance(text, str):
            raise ProviderError(
                f"{LABEL} sent an answer without text", provider=PROVIDER, retryable=False
            )
        return " ".join(text.split())
