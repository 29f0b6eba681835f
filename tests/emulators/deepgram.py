"""Deepgram's live ``/v1/listen`` WebSocket on loopback, for the streaming STT adapter.

A real WebSocket server (Starlette under uvicorn, in the test's event loop) that keeps the
documented protocol strictly:

- the handshake needs ``Authorization: Token <api_key>`` (else HTTP 401, as Deepgram
  refuses it), ``encoding=linear16`` with a ``sample_rate`` (else 400), and
  ``utterance_end_ms`` only with ``interim_results=true`` (else 400);
- binary messages are audio; text messages must be ``KeepAlive``, ``Finalize`` or
  ``CloseStream`` (anything else closes with 1008, as an undecodable message does);
- it listens like Deepgram: an energy VAD over 20 ms of the audio it got decides speech,
  ``SpeechStarted`` comes with the first loud frame (``vad_events=true``), ``Results`` with
  ``is_final: false`` every 500 ms of speech (``interim_results=true``), a final ``Results``
  with ``speech_final: true`` once ``endpointing`` ms of silence followed the speech,
  ``UtteranceEnd`` once ``utterance_end_ms`` did; ``Finalize`` settles what is pending
  (``from_finalize: true``), ``CloseStream`` does too and then sends ``Metadata`` and closes
  normally. All times are seconds of the stream's audio.

Transcripts: the next of :attr:`DeepgramEmulator.transcripts`, else derived from the audio
(``"heard 1.2 seconds"``). Failures: :attr:`fail` refuses the next handshakes with an HTTP
status, :attr:`drop_after_seconds` closes the stream abnormally (1011) after that much
audio (the next :attr:`drop_streams` streams), :attr:`stall_seconds` delays the
handshake. :attr:`connections` records each stream's query, controls and audio length
(never the key); :attr:`speech_finals` the ``time.perf_counter()`` at which each
``speech_final`` was sent, for latency measurements.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.emulators.loopback import LoopbackServer
from voxline.voice.audio import rms_dbfs

API_KEY = "dg-emulated-key-abcdef0123456789"
FRAME_BYTES = 640  # 20 ms of 16 kHz PCM16
LOUD_DBFS = -45.0
INTERIM_EVERY_S = 0.5


@dataclass
class Stream:
    """What one connection sent."""

    query: dict[str, str]
    controls: list[str] = field(default_factory=list)
    audio_bytes: int = 0
    closed_normally: bool = False


class _Listener:
    """One stream's endpointing state (audio seconds)."""

    def __init__(self, endpointing_s: float | None, utterance_end_s: float | None) -> None:
        self.endpointing_s = endpointing_s
        self.utterance_end_s = utterance_end_s
        self.position = 0.0
        self.speech_start: float | None = None  # the turn's words not yet final
        self.final_from = 0.0  # start of the part not yet sent as final
        self.last_loud = 0.0
        self.loud_frames = 0
        self.last_interim = 0.0
        self.utterance_open = False
        self.buffer = b""


class DeepgramEmulator:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.fail: deque[int] = deque()
        self.transcripts: deque[str] = deque()
        self.drop_after_seconds: float | None = None
        self.drop_streams = 1_000_000  # how many streams drop_after_seconds drops
        self.stall_seconds = 0.0
        self.connections: list[Stream] = []
        self.speech_finals: list[float] = []
        self.base_url = ""
        self._loopback: LoopbackServer | None = None
        self.app = Starlette(routes=[WebSocketRoute("/v1/listen", self.listen)])

    async def _deny(self, websocket: WebSocket, status: int, message: str) -> None:
        await websocket.send_denial_response(
            JSONResponse({"err_code": "Bad Request", "err_msg": message}, status)
        )

    async def listen(self, websocket: WebSocket) -> None:
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        if websocket.headers.get("authorization") != f"Token {self.api_key}":
            await self._deny(websocket, 401, "Invalid credentials.")
            return
        if self.fail:
            await self._deny(websocket, self.fail.popleft(), "emulated failure")
            return
        query = dict(websocket.query_params)
        problem = _problem(query)
        if problem is not None:
            await self._deny(websocket, 400, problem)
            return
        stream = Stream(query)
        self.connections.append(stream)
        await websocket.accept()
        listener = _Listener(
            int(query["endpointing"]) / 1000
            if query.get("endpointing", "false") != "false"
            else None,
            int(query["utterance_end_ms"]) / 1000 if "utterance_end_ms" in query else None,
        )
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    stream.audio_bytes += len(message["bytes"])
                    await self._audio(websocket, stream, listener, message["bytes"])
                    if (
                        self.drop_after_seconds is not None
                        and self.drop_streams > 0
                        and stream.audio_bytes >= self.drop_after_seconds * 32000
                    ):
                        self.drop_streams -= 1
                        await websocket.close(1011, "emulated internal error")
                        return
                    continue
                control = _control(message.get("text"))
                if control is None:
                    await websocket.close(1008, "unknown message")
                    return
                stream.controls.append(control)
                if control == "Finalize":
                    await self._final(websocket, stream, listener, from_finalize=True)
                elif control == "CloseStream":
                    await self._final(websocket, stream, listener, from_finalize=True)
                    await websocket.send_json({"type": "Metadata", "duration": listener.position})
                    stream.closed_normally = True
                    await websocket.close(1000)
                    return
        except WebSocketDisconnect:
            return

    async def _audio(
        self, websocket: WebSocket, stream: Stream, state: _Listener, data: bytes
    ) -> None:
        state.buffer += data
        query = stream.query
        while len(state.buffer) >= FRAME_BYTES:
            frame, state.buffer = state.buffer[:FRAME_BYTES], state.buffer[FRAME_BYTES:]
            state.position += 0.02
            if rms_dbfs(frame) > LOUD_DBFS:
                state.loud_frames += 1
                state.last_loud = state.position
                if state.speech_start is None:
                    state.speech_start = state.final_from = state.position - 0.02
                    state.last_interim = state.position
                    state.utterance_open = True
                    if query.get("vad_events") == "true":
                        await websocket.send_json(
                            {
                                "type": "SpeechStarted",
                                "channel": [0],
                                "timestamp": state.speech_start,
                            }
                        )
                continue
            if state.speech_start is None:
                if (
                    state.utterance_open
                    and state.utterance_end_s is not None
                    and state.position - state.last_loud >= state.utterance_end_s
                ):
                    state.utterance_open = False
                    await websocket.send_json(
                        {
                            "type": "UtteranceEnd",
                            "channel": [0, 1],
                            "last_word_end": state.last_loud,
                        }
                    )
                continue
            quiet = state.position - state.last_loud
            if state.endpointing_s is not None and quiet >= state.endpointing_s:
                await self._final(websocket, stream, state, speech_final=True)
            elif (
                query.get("interim_results") == "true"
                and state.position - state.last_interim >= INTERIM_EVERY_S
            ):
                state.last_interim = state.position
                await websocket.send_json(self._results(state, is_final=False))

    def _text(self, state: _Listener) -> str:
        if self.transcripts:
            return self.transcripts.popleft()
        return f"heard {state.loud_frames * 0.02:.1f} seconds"

    def _results(
        self,
        state: _Listener,
        *,
        is_final: bool,
        speech_final: bool = False,
        text: str = "",
        from_finalize: bool = False,
    ) -> dict[str, Any]:
        start = state.final_from
        end = state.last_loud if is_final else state.position
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "start": round(start, 3),
            "duration": round(max(0.0, end - start), 3),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{"transcript": text, "confidence": 0.99, "words": []}]},
            "metadata": {"request_id": "emulated", "model_info": {"name": "emulated"}},
        }

    async def _final(
        self,
        websocket: WebSocket,
        stream: Stream,
        state: _Listener,
        *,
        speech_final: bool = False,
        from_finalize: bool = False,
    ) -> None:
        """Settle the pending speech; nothing to settle sends nothing."""
        if state.speech_start is None:
            return
        text = self._text(state)
        message = self._results(
            state,
            is_final=True,
            speech_final=speech_final,
            text=text,
            from_finalize=from_finalize,
        )
        state.speech_start = None
        state.loud_frames = 0
        if speech_final:
            self.speech_finals.append(time.perf_counter())
        await websocket.send_json(message)

    async def start(self) -> str:
        """Serve; returns the ``ws://.../v1`` base URL."""
        self._loopback = LoopbackServer(self.app)
        self.base_url = (await self._loopback.start()).replace("http://", "ws://") + "/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._loopback is not None:
            await self._loopback.stop()
            self._loopback = None


def _problem(query: dict[str, str]) -> str | None:
    if query.get("encoding") != "linear16":
        return "this emulator takes encoding=linear16 only"
    if query.get("sample_rate") != "16000":
        return "sample_rate is required with encoding (16000 here)"
    if query.get("channels", "1") != "1":
        return "one channel only"
    if "utterance_end_ms" in query and query.get("interim_results") != "true":
        return "utterance_end_ms requires interim_results=true"
    for name in ("endpointing", "utterance_end_ms"):
        value = query.get(name)
        if value is not None and value != "false" and not value.isdigit():
            return f"{name} must be a number of milliseconds"
    return None


def _control(text: str | None) -> str | None:
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    kind = data.get("type") if isinstance(data, dict) else None
    return kind if kind in ("KeepAlive", "Finalize", "CloseStream") else None
