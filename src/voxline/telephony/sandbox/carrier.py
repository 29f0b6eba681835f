"""The sandbox carrier: a simulated phone network that needs no account.

It implements :class:`~voxline.telephony.base.TelephonyProvider`. Placing a call starts a
simulation owned by the carrier's task group: the phone rings, the persona chosen by the
destination number answers (or not), and a connected call is handed to ``on_answer`` — the
agent's side of the conversation — over a :class:`TextLine`. Every change is reported
through the event sink, as a real provider's status callbacks would be.

A transfer hands the contact to a person at the destination (:mod:`.transfer`): the agent's
line closes, the call goes on without it and ends after their goodbyes. An answering machine
called to leave a message (``PlacementRequest.leave_voicemail``) is answered, beeps and
records the agent (:mod:`.voicemail`). :meth:`SandboxCarrier.call_in` runs the other way
round: a persona calls one of the sandbox's numbers, and once Voxline recorded the inbound
call (as a carrier's inbound webhook would), the call rings briefly, connects, and the
persona and the agent talk as on an outbound call. The carrier keeps its most recent calls in
:attr:`SandboxCarrier.calls` for tests and demos to inspect.

Placements are appended to a log file shared by every process of a deployment, so crash
recovery can ask the sandbox whether a call was dialed, as it would ask a real provider.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
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
    takes_transfers,
)
from voxline.telephony.sandbox.transfer import Transfer, play_bridge
from voxline.telephony.sandbox.voicemail import Voicemail, answer_audio, answer_text
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
# How long an inbound sandbox call rings before the platform's answer connects it.
INBOUND_RING_SECONDS = 1.0
# How many calls, live or ended, :attr:`SandboxCarrier.calls` keeps.
RECENT_CALLS = 256


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimulatedCall:
    """One call on the simulated network. ``transfer`` is set once the agent handed the call
    on; ``voicemail`` when an answering machine took a message; ``callee_said`` holds the
    callee's lines as it finished saying them."""

    request: PlacementRequest
    provider_call_id: str
    persona: Persona
    line: TextLine | AudioLine
    hangup_requested: asyncio.Event
    callee_said: list[str] = field(default_factory=list)
    # Audio mode: the callee's lines with pauses the agent answered before they were over.
    callee_cut_ins: list[str] = field(default_factory=list)
    transfer: Transfer | None = None
    voicemail: Voicemail | None = None

    @property
    def voicemail_message(self) -> str | None:
        """The words the agent left on the machine (text mode), None without a voicemail."""
        return None if self.voicemail is None else self.voicemail.message


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
        self._calls: dict[str, SimulatedCall] = {}
        self._recent: OrderedDict[str, SimulatedCall] = OrderedDict()
        self._placed: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    @property
    def live_call_ids(self) -> set[str]:
        """Voxline's ids of the calls live on the simulated network now."""
        return {call.request.call_id for call in self._calls.values()}

    @property
    def calls(self) -> Mapping[str, SimulatedCall]:
        """The most recent calls (live or ended) by provider call id."""
        return self._recent

    @property
    def transfers(self) -> dict[str, Transfer]:
        """The transfers of the most recent calls by provider call id."""
        return {key: c.transfer for key, c in self._recent.items() if c.transfer is not None}

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
        line = AudioLine(persona.echo) if self._audio is not None else TextLine(self._scale)
        call = SimulatedCall(request, provider_call_id, persona, line, asyncio.Event())
        if isinstance(line, TextLine):
            call.callee_said = line.contact_said
        self._start(call)
        return provider_call_id

    def call_in(
        self,
        *,
        call_id: str,
        provider_call_id: str,
        org_id: str,
        agent_id: str,
        caller: str,
        number: str,
        persona: Persona,
    ) -> None:
        """A sandbox inbound call: ``persona`` (calling from ``caller``) has dialed
        ``number``, and Voxline recorded the call ``call_id`` for its inbound agent
        ``agent_id`` (ringing, with ``provider_call_id``). The sandbox answers it after a
        short ring and reports it as for an outbound call: answered, then the hang-up."""
        request = PlacementRequest(
            call_id=call_id,
            org_id=org_id,
            agent_id=agent_id,
            to_number=number,
            from_number=caller,
            provider_type=self.name,
            join_timeout_seconds=persona.ring_seconds,
        )
        inbound = dataclasses.replace(persona, ring_seconds=INBOUND_RING_SECONDS)
        line = AudioLine(persona.echo) if self._audio is not None else TextLine(self._scale)
        call = SimulatedCall(request, provider_call_id, inbound, line, asyncio.Event())
        if isinstance(line, TextLine):
            call.callee_said = line.contact_said
        self._start(call)

    def _start(self, call: SimulatedCall) -> None:
        provider_call_id = call.provider_call_id
        self._calls[provider_call_id] = call
        self._recent[provider_call_id] = call
        while len(self._recent) > RECENT_CALLS:
            self._recent.popitem(last=False)
        task = asyncio.create_task(self._simulate(call), name=f"sandbox-{call.request.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        """Hand the contact to ``destination``: the agent's line closes and the contact talks
        with the person there. A final ProviderError, the call going on as it was, when the
        call is not live or nobody answers there (a destination ending ``0111``, or one
        that is busy, never answers or is not in service)."""
        checked_destination(self.name, destination)
        call = self._calls.get(call_ref.provider_call_id or "")
        if call is None or call.line.closed:
            raise ProviderError(
                "The call is not live: there is nothing to transfer",
                provider=self.name,
                retryable=False,
                provider_code="call_not_live",
            )
        if not takes_transfers(destination):
            raise ProviderError(
                "The transfer destination did not answer",
                provider=self.name,
                retryable=False,
                provider_code="transfer_failed",
            )
        call.transfer = Transfer(destination)
        # Voxline's media leaves the call; the contact stays, bridged to the destination.
        call.line.hangup("transfer")

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

    async def _emit(self, call: SimulatedCall, event: CallEvent, **fields: object) -> None:
        await self._events(
            ProviderEvent(
                call_id=call.request.call_id,
                event=event,
                at=_now(),
                provider_call_id=call.provider_call_id,
                **fields,  # type: ignore[arg-type]
            )
        )

    async def _wait(self, call: SimulatedCall, seconds: float) -> bool:
        """Let simulated time pass; True when the platform hung up meanwhile."""
        if seconds == float("inf"):
            await call.hangup_requested.wait()
            return True
        with suppress(TimeoutError):
            await asyncio.wait_for(call.hangup_requested.wait(), seconds * self._scale)
            return True
        return False

    async def _simulate(self, call: SimulatedCall) -> None:
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

    async def _run(self, call: SimulatedCall) -> None:
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
        if behaviour is Behaviour.VOICEMAIL and call.request.leave_voicemail:
            await self._take_message(call, answered_at)
            return
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
            if call.transfer is not None:
                # The bridged call goes on while the agent's side winds down.
                await play_bridge(call.transfer, lambda seconds: self._wait(call, seconds))
        ended_by = call.line.closed_by if call.transfer is None else call.transfer.ended_by
        await self._emit(call, CallEvent.HANGUP, end_reason=_hangup_reason(ended_by))

    async def _take_message(self, call: SimulatedCall, answered_at: datetime) -> None:
        """The answering machine when the agent leaves a message: answered, greeting, beep,
        detected as a machine, then recording until someone hangs up."""
        await self._emit(call, CallEvent.ANSWERED, answered_by=AnsweredBy.UNKNOWN)
        voicemail = call.voicemail = Voicemail()

        async def on_beep() -> None:
            await self._emit(
                call,
                CallEvent.MACHINE_DETECTED,
                answered_by=AnsweredBy.MACHINE,
                end_reason=EndReason.VOICEMAIL,
                cause="machine_end_beep",
                details={"answered_at": answered_at.isoformat()},
            )

        async with asyncio.TaskGroup() as group:
            if isinstance(call.line, TextLine):
                group.create_task(answer_text(call.line, voicemail, on_beep))
            else:
                assert self._audio is not None
                machine = answer_audio(
                    call.line.contact, self._audio.tts(), self._audio.voice, voicemail, on_beep
                )
                group.create_task(machine)
            group.create_task(self._agent_side(call))
        await self._emit(call, CallEvent.HANGUP, end_reason=_hangup_reason(call.line.closed_by))

    async def _callee_side(self, call: SimulatedCall) -> None:
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
            said=call.callee_said,
            cut_ins=call.callee_cut_ins,
        )
        await callee.run()

    async def _agent_side(self, call: SimulatedCall) -> None:
        agent_end = call.line if isinstance(call.line, TextLine) else call.line.agent
        try:
            await self._on_answer(call.request.call_id, agent_end)
        finally:
            # Whatever ended the agent's side ends the call, unless the agent handed it on:
            # then the contact stays with the destination.
            if call.transfer is None:
                call.line.hangup("agent")


def _hangup_reason(ended_by: str | None) -> EndReason:
    return EndReason.CONTACT_HANGUP if ended_by == "contact" else EndReason.AGENT_HANGUP
