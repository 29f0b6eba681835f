"""The sandbox carrier: a simulated phone network that needs no account.

It implements :class:`~voxline.telephony.base.TelephonyProvider`. Placing a call starts a
simulation owned by the carrier's task group: the phone rings, the persona chosen by the
destination number answers (or not), and a connected call is handed to ``on_answer`` — the
agent's side of the conversation — over a :class:`TextLine`. Every change is reported
through the event sink, as a real provider's status callbacks would be.

Placements are appended to a log file shared by every process of a deployment, so crash
recovery can ask the sandbox whether a call was dialed, as it would ask a real provider.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.telephony.base import (
    EventSink,
    PlacementRequest,
    PlacementState,
    ProviderCall,
    ProviderEvent,
    checked_destination,
    checked_digits,
)
from voxline.telephony.sandbox.audio_line import AudioEnd, AudioLine
from voxline.telephony.sandbox.callee import play_callee
from voxline.telephony.sandbox.callee_audio import AudioCallee
from voxline.telephony.sandbox.line import TextLine
from voxline.telephony.sandbox.personas import (
    NOT_IN_SERVICE_MESSAGE,
    VOICEMAIL_GREETING,
    Behaviour,
    Persona,
    persona_for,
    speaking_seconds,
)
from voxline.voice.tts.base import TextToSpeech
from voxline.voice.vad import StreamingVad

log = get_logger("sandbox")

AnswerHandler = Callable[[str, TextLine | AudioEnd], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AudioMode:
    """How the callee speaks and listens in audio mode (models are fetched when first used)."""

    tts: Callable[[], TextToSpeech]
    vad: Callable[[], StreamingVad]
    voice: str


SETUP_SECONDS = 0.3


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _SimulatedCall:
    request: PlacementRequest
    provider_call_id: str
    persona: Persona
    line: TextLine | AudioLine
    hangup_requested: asyncio.Event


class SandboxCarrier:
    name = "sandbox"

    def __init__(
        self,
        *,
        events: EventSink,
        on_answer: AnswerHandler,
        time_scale: float = 1.0,
        placements_log: Path | None = None,
        audio: AudioMode | None = None,
    ) -> None:
        self._events = events
        self._on_answer = on_answer
        self._scale = time_scale
        self._log_path = placements_log
        self._audio = audio
        self._calls: dict[str, _SimulatedCall] = {}
        self._placed: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    async def place_call(self, request: PlacementRequest) -> str:
        persona = persona_for(request.to_number)
        if persona.behaviour is Behaviour.NOT_IN_SERVICE:
            raise ProviderError(
                NOT_IN_SERVICE_MESSAGE,
                provider=self.name,
                retryable=False,
                provider_code="not_in_service",
                http_status=404,
            )
        provider_call_id = f"SBX{uuid.uuid4().hex}"
        self._record_placement(request.call_id)
        line = AudioLine() if self._audio is not None else TextLine(self._scale)
        call = _SimulatedCall(request, provider_call_id, persona, line, asyncio.Event())
        self._calls[provider_call_id] = call
        task = asyncio.create_task(self._simulate(call), name=f"sandbox-{request.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return provider_call_id

    async def hangup(self, call_ref: ProviderCall) -> None:
        call = self._calls.get(call_ref.provider_call_id or "")
        if call is not None:
            call.hangup_requested.set()
            call.line.hangup("agent")

    async def placement_state(self, call_ref: ProviderCall) -> PlacementState:
        call_id = call_ref.call_id
        if call_id in self._placed:
            return PlacementState.PLACED
        if self._log_path is not None and self._log_path.exists():
            placed = await asyncio.to_thread(self._log_path.read_text)
            if call_id in placed.split():
                return PlacementState.PLACED
        return PlacementState.NOT_PLACED

    async def send_digits(self, call_ref: ProviderCall, digits: str) -> bool:
        """False: on the simulated line keys are tones in the call's audio."""
        checked_digits(self.name, digits)
        return False

    async def transfer(self, call_ref: ProviderCall, destination: str) -> None:
        """The simulated network has no one to hand a call to yet: a final ProviderError."""
        checked_destination(self.name, destination)
        raise ProviderError(
            "The sandbox cannot transfer calls", provider=self.name, retryable=False
        )

    async def recording_url(self, call_ref: ProviderCall) -> str | None:
        """None: the sandbox keeps no recording of its own (Voxline records the call)."""
        return None

    async def aclose(self) -> None:
        """End every simulated call (the process is stopping)."""
        for call in list(self._calls.values()):
            call.line.hangup("agent")
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with suppress(asyncio.CancelledError, Exception):
                await task

    def _record_placement(self, call_id: str) -> None:
        self._placed.add(call_id)
        if self._log_path is None:
            return
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{call_id}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    async def _emit(self, call: _SimulatedCall, event: CallEvent, **fields: object) -> None:
        await self._events(
            ProviderEvent(
                call_id=call.request.call_id,
                event=event,
                at=_now(),
                provider_call_id=call.provider_call_id,
                **fields,  # type: ignore[arg-type]
            )
        )

    async def _wait(self, call: _SimulatedCall, seconds: float) -> bool:
        """Let simulated time pass; True when the platform hung up meanwhile."""
        if seconds == float("inf"):
            await call.hangup_requested.wait()
            return True
        with suppress(TimeoutError):
            await asyncio.wait_for(call.hangup_requested.wait(), seconds * self._scale)
            return True
        return False

    async def _simulate(self, call: _SimulatedCall) -> None:
        try:
            await self._run(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sandbox simulation failed", extra={"call_id": call.request.call_id})
            with suppress(Exception):
                await self._emit(
                    call,
                    CallEvent.FAILED,
                    cause="sandbox simulation error",
                    end_reason=EndReason.PROVIDER_ERROR,
                )
        finally:
            self._calls.pop(call.provider_call_id, None)

    async def _run(self, call: _SimulatedCall) -> None:
        if await self._wait(call, SETUP_SECONDS):
            await self._emit(call, CallEvent.HANGUP, end_reason=EndReason.CANCELED)
            return
        await self._emit(call, CallEvent.RINGING)
        if await self._wait(call, call.persona.ring_seconds):
            await self._emit(call, CallEvent.HANGUP, end_reason=EndReason.CANCELED)
            return
        behaviour = call.persona.behaviour
        if behaviour is Behaviour.BUSY:
            await self._emit(call, CallEvent.BUSY, cause="busy")
            return
        answered_at = _now()
        if behaviour is Behaviour.VOICEMAIL:
            # Answering-machine detection listens to the greeting up to the beep.
            await self._wait(call, speaking_seconds(VOICEMAIL_GREETING))
            await self._emit(
                call,
                CallEvent.MACHINE_DETECTED,
                answered_by=AnsweredBy.MACHINE,
                end_reason=EndReason.VOICEMAIL,
                cause="machine_end_beep",
                details={"answered_at": answered_at.isoformat()},
            )
            return
        await self._emit(call, CallEvent.ANSWERED, answered_by=AnsweredBy.HUMAN)
        async with asyncio.TaskGroup() as group:
            callee = group.create_task(self._callee_side(call))
            group.create_task(self._agent_side(call))
            await call.line.wait_closed()
            callee.cancel()
        reason = (
            EndReason.CONTACT_HANGUP if call.line.closed_by == "contact" else EndReason.AGENT_HANGUP
        )
        await self._emit(call, CallEvent.HANGUP, end_reason=reason)

    async def _callee_side(self, call: _SimulatedCall) -> None:
        if isinstance(call.line, TextLine):
            await play_callee(call.persona, call.line)
            return
        assert self._audio is not None
        callee = AudioCallee(
            call.persona,
            call.line.contact,
            self._audio.tts(),
            self._audio.vad(),
            self._audio.voice,
        )
        await callee.run()

    async def _agent_side(self, call: _SimulatedCall) -> None:
        agent_end = call.line if isinstance(call.line, TextLine) else call.line.agent
        try:
            await self._on_answer(call.request.call_id, agent_end)
        finally:
            # Whatever ended the agent's side ends the call.
            call.line.hangup("agent")
