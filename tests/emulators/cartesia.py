"""Cartesia's TTS WebSocket on loopback, for the streaming TTS adapter.

A real WebSocket server (Starlette under uvicorn, in the test's event loop) that keeps the
documented protocol strictly:

- the handshake needs ``X-API-Key: <api_key>`` (else HTTP 401) and a ``Cartesia-Version``
  header (else 400);
- every text message is a generation request (``model_id``, non-empty ``transcript``,
  ``voice`` ``{"mode": "id", "id"}``, ``context_id``, ``output_format`` ``{"container":
  "raw", "encoding": "pcm_s16le", "sample_rate"}``) or a cancel (``{"context_id", "cancel":
  true}``); a request missing any of these gets ``{"type": "error", "status_code": 400}``
  for its context, as Cartesia answers it;
- generations run concurrently, one per context, over the one socket: espeak-ng speaks the
  transcript (real audio), resampled to the requested rate, sent as base64 ``chunk``
  messages of 100 ms, then ``done``. A cancelled context gets no further chunk.

Failures: :attr:`CartesiaEmulator.fail` refuses the next handshakes with an HTTP status,
:attr:`errors` answers the next requests with an error message of that status,
:attr:`drop_after_chunks` closes the socket abnormally (1011) after that many chunks,
:attr:`gate` holds every generation after its first chunk until set. :attr:`requests`
keeps each request (never the key), :attr:`cancelled` the cancelled context ids,
:attr:`sockets` counts the connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import deque
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.emulators.loopback import LoopbackServer
from voxline.voice.audio import resample
from voxline.voice.tts.espeak import EspeakTts

API_KEY = "sk_car_emulated_0123456789abcdef"
MODELS = frozenset({"sonic-2", "sonic-english"})
RATES = frozenset({8000, 16000, 22050, 24000, 44100})


class CartesiaEmulator:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.fail: deque[int] = deque()
        self.errors: deque[int] = deque()
        self.drop_after_chunks: int | None = None
        self.gate: asyncio.Event | None = None
        self.requests: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.sockets = 0
        self.base_url = ""
        self._espeak = EspeakTts()
        self._loopback: LoopbackServer | None = None
        self.app = Starlette(routes=[WebSocketRoute("/tts/websocket", self.websocket)])

    async def websocket(self, websocket: WebSocket) -> None:
        refusal: tuple[int, str] | None = None
        if websocket.headers.get("x-api-key") != self.api_key:
            refusal = (401, "Invalid API key")
        elif not websocket.headers.get("cartesia-version"):
            refusal = (400, "Cartesia-Version header is required")
        elif self.fail:
            refusal = (self.fail.popleft(), "emulated failure")
        if refusal is not None:
            await websocket.send_denial_response(JSONResponse({"error": refusal[1]}, refusal[0]))
            return
        await websocket.accept()
        self.sockets += 1
        sent = [0]
        live: dict[str, asyncio.Task[None]] = {}
        lock = asyncio.Lock()  # one message on the socket at a time
        try:
            while True:
                data = json.loads(await websocket.receive_text())
                context_id = data.get("context_id")
                if data.get("cancel") is True:
                    self.cancelled.append(str(context_id))
                    task = live.pop(str(context_id), None)
                    if task is not None:
                        task.cancel()
                    continue
                self.requests.append(data)
                task = asyncio.ensure_future(self._generate(websocket, lock, data, sent))
                live[str(context_id)] = task
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            for task in live.values():
                task.cancel()

    async def _generate(
        self, websocket: WebSocket, lock: asyncio.Lock, request: dict[str, Any], sent: list[int]
    ) -> None:
        context_id = request.get("context_id")
        problem = _problem(request)
        if problem is None and self.errors:
            problem = (self.errors.popleft(), "emulated failure")
        if problem is not None:
            status, message = problem
            async with lock:
                await websocket.send_json(
                    {
                        "type": "error",
                        "done": True,
                        "status_code": status,
                        "error": message,
                        "context_id": context_id,
                    }
                )
            return
        rate = request["output_format"]["sample_rate"]
        pcm = resample(await self._espeak.synthesize(request["transcript"]), 16_000, rate)
        step = rate // 10 * 2
        for index, start in enumerate(range(0, len(pcm), step)):
            chunk = base64.b64encode(pcm[start : start + step]).decode()
            async with lock:
                if self.drop_after_chunks is not None and sent[0] >= self.drop_after_chunks:
                    with contextlib.suppress(RuntimeError):
                        await websocket.close(1011, "emulated internal error")
                    return
                await websocket.send_json(
                    {
                        "type": "chunk",
                        "data": chunk,
                        "done": False,
                        "status_code": 206,
                        "step_time": 1,
                        "context_id": context_id,
                    }
                )
                sent[0] += 1
            if index == 0 and self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(0)
        async with lock:
            await websocket.send_json(
                {"type": "done", "done": True, "status_code": 206, "context_id": context_id}
            )

    async def start(self) -> str:
        """Serve; returns the ``ws://...`` base URL."""
        self._loopback = LoopbackServer(self.app)
        self.base_url = (await self._loopback.start()).replace("http://", "ws://")
        return self.base_url

    async def stop(self) -> None:
        if self._loopback is not None:
            await self._loopback.stop()
            self._loopback = None


def _problem(request: dict[str, Any]) -> tuple[int, str] | None:
    if not isinstance(request.get("context_id"), str) or not request["context_id"]:
        return 400, "context_id is required"
    if request.get("model_id") not in MODELS:
        return 400, "Invalid model: make sure it is a valid model ID."
    transcript = request.get("transcript")
    if not isinstance(transcript, str) or not transcript.strip():
        return 400, "transcript is required"
    voice = request.get("voice")
    if not isinstance(voice, dict) or voice.get("mode") != "id" or not voice.get("id"):
        return 400, "voice must be {mode: id, id}"
    output = request.get("output_format")
    if (
        not isinstance(output, dict)
        or output.get("container") != "raw"
        or output.get("encoding") != "pcm_s16le"
        or output.get("sample_rate") not in RATES
    ):
        return 400, "output_format must be raw pcm_s16le at a supported rate"
    return None
