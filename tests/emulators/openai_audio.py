"""An OpenAI-compatible audio server on loopback: transcriptions and speech.

A real HTTP server (Starlette under uvicorn, in the test's event loop) that checks requests
as OpenAI does and answers with real results:

- ``POST /v1/audio/transcriptions``: ``Authorization: Bearer <api_key>`` (else 401 with an
  OpenAI error body), a ``multipart/form-data`` body (else 400) with ``file`` (a readable
  WAV, else 400) and ``model`` (else 400; an unknown model is 404), ``response_format`` of
  ``json`` or absent (``text``, ``srt``... are refused here: the adapter asks for JSON). The
  transcript is the next queued one, or else derived from the audio itself: how many
  seconds of sound it heard (``"heard 1.2 seconds"``), so an adapter that mangles the audio
  gets a different answer.
- ``POST /v1/audio/speech``: the same key, ``Content-Type: application/json`` (else 400),
  ``model``, ``input`` (non-empty, at most 4096 characters) and ``voice`` (else 400),
  ``response_format`` of ``pcm`` (raw 24 kHz PCM16, OpenAI's rate) or ``wav`` (a streamed
  WAV with placeholder sizes, as servers that stream WAV write it); other formats 400. The
  speech is real: espeak-ng speaks ``input``, resampled to 24 kHz, streamed in chunks.

Failures: :attr:`OpenAIAudioEmulator.fail` queues HTTP statuses for the next requests;
``stall_seconds`` delays the answer; ``gate`` (an event) holds a speech body after its first
chunk until it is set, so a test can see a chunk arrive before the rest exists. Request
records (never the key) are kept in :attr:`requests`.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import struct
import wave
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.loopback import LoopbackServer
from voxline.voice.audio import resample, rms_dbfs
from voxline.voice.tts.espeak import EspeakTts

API_KEY = "sk-emulated-audio-key-0123456789"
STT_MODELS = frozenset({"whisper-1", "Systran/faster-whisper-tiny.en"})
TTS_MODELS = frozenset({"tts-1", "kokoro"})
PCM_RATE = 24_000
CHUNK_BYTES = 4800  # 100 ms at 24 kHz


@dataclass
class Received:
    path: str
    form: dict[str, str]
    audio_seconds: float = 0.0


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status)


def heard_seconds(pcm: bytes, rate: int) -> float:
    """Seconds of 20 ms frames louder than -45 dBFS: the emulator's "transcript"."""
    step = rate // 50 * 2
    loud = sum(1 for i in range(0, len(pcm), step) if rms_dbfs(pcm[i : i + step]) > -45)
    return loud * 0.02


class OpenAIAudioEmulator:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.fail: deque[int] = deque()
        self.transcripts: deque[str] = deque()
        self.stall_seconds = 0.0
        self.gate: asyncio.Event | None = None
        self.requests: list[Received] = []
        self.base_url = ""
        self._espeak = EspeakTts()
        self._loopback: LoopbackServer | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
                Route("/v1/audio/speech", self.speech, methods=["POST"]),
            ]
        )

    async def _refusal(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        if self.fail:
            status = self.fail.popleft()
            return _error(status, "emulated failure", "server_error")
        return None

    async def transcriptions(self, request: Request) -> Response:
        if (refused := await self._refusal(request)) is not None:
            return refused
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return _error(400, "Expected multipart/form-data")
        form = await request.form()
        upload = form.get("file")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not isinstance(upload, UploadFile):
            return _error(400, "Missing required parameter: 'file'.")
        model = fields.get("model")
        if not model:
            return _error(400, "Missing required parameter: 'model'.")
        if model not in STT_MODELS:
            return _error(404, f"The model '{model}' does not exist", "model_not_found")
        if fields.get("response_format", "json") != "json":
            return _error(400, "this emulator answers response_format=json only")
        try:
            with wave.open(io.BytesIO(await upload.read()), "rb") as wav:
                if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                    raise wave.Error("not 16-bit mono")
                rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
        except (wave.Error, EOFError):
            return _error(400, "Invalid file format.")
        seconds = heard_seconds(pcm, rate)
        self.requests.append(Received("transcriptions", fields, len(pcm) / 2 / rate))
        text = self.transcripts.popleft() if self.transcripts else f"heard {seconds:.1f} seconds"
        return JSONResponse({"text": text})

    async def speech(self, request: Request) -> Response:
        if (refused := await self._refusal(request)) is not None:
            return refused
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error(400, "Expected Content-Type: application/json")
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        for name in ("model", "input", "voice"):
            if not isinstance(body.get(name), str) or not body[name]:
                return _error(400, f"Missing required parameter: '{name}'.")
        if body["model"] not in TTS_MODELS:
            return _error(404, f"The model '{body['model']}' does not exist", "model_not_found")
        if len(body["input"]) > 4096:
            return _error(400, "input is longer than 4096 characters")
        response_format = body.get("response_format", "mp3")
        if response_format not in ("pcm", "wav"):
            return _error(400, f"this emulator speaks pcm and wav, not {response_format}")
        self.requests.append(
            Received("speech", {k: str(v) for k, v in body.items() if k != "input"})
        )
        pcm = resample(await self._espeak.synthesize(body["input"]), 16_000, PCM_RATE)
        media = "audio/pcm" if response_format == "pcm" else "audio/wav"
        return StreamingResponse(self._chunks(pcm, response_format == "wav"), media_type=media)

    async def _chunks(self, pcm: bytes, wav: bool) -> AsyncIterator[bytes]:
        if wav:
            yield _streamed_wav_header(PCM_RATE)
        # Odd edges on purpose: samples straddle chunks, as they may on a real wire.
        edges = [0, *range(CHUNK_BYTES + 1, len(pcm), CHUNK_BYTES), len(pcm)]
        for index, (start, end) in enumerate(itertools.pairwise(edges)):
            yield pcm[start:end]
            if index == 0 and self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)

    async def start(self) -> str:
        self._loopback = LoopbackServer(self.app)
        self.base_url = await self._loopback.start() + "/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._loopback is not None:
            await self._loopback.stop()
            self._loopback = None


def _streamed_wav_header(rate: int) -> bytes:
    """A WAV header whose sizes are placeholders (0xFFFFFFFF), as a streaming server writes."""

    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", 0xFFFFFFFF)
    )
