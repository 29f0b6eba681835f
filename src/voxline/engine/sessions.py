"""Building and running the agent's side of a live call, whatever carries its audio.

The engine uses it for sandbox calls; the media WebSocket routes use it for provider calls.
Models come from one :class:`VoiceKit` per process. An outbound call's session is prepared
while its phone rings (:meth:`VoiceSessions.prepare_ahead`, the greeting synthesized once)
and kept here, keyed by call id, until its audio arrives in this process, the call ends or
``prepared_session_seconds`` pass. While a session runs, this process hosts
the call and keeps its lease (:class:`~voxline.engine.leases.LeaseKeeper`). A speech or brain
stage that fails for good (see ``voice.stages``) ends the call as ``provider_error`` with
``context.last_error``; the transcript so far, the latency figures and the recording are
saved whatever happens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace

import httpx

from voxline.config import Settings
from voxline.domain.calls import CallDirection, CallEvent, EndReason
from voxline.domain.templates import render
from voxline.domain.tool_requests import CallFacts
from voxline.domain.tools import AgentTools
from voxline.engine.call_control import CarrierCallControl
from voxline.engine.leases import LeaseKeeper, new_worker_id
from voxline.logging import get_logger
from voxline.net import tls
from voxline.recordings import stores_for
from voxline.services.agent_tools import load_agent_tools
from voxline.services.call_events import apply_event
from voxline.services.call_outcomes import save_session_outcome
from voxline.services.call_sessions import SessionProfile, load_session_profile
from voxline.services.call_timeline import CallTimeline
from voxline.services.http_tools import HttpTools, signing_secrets_of
from voxline.services.ports import TurnLatencies
from voxline.services.transcripts import CallTranscript
from voxline.storage.db import Database
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderEvent
from voxline.telephony.registry import ProviderRegistry
from voxline.voice.brain.base import AgentProfile, Brain
from voxline.voice.brain.scripted import ScriptedBrain
from voxline.voice.channel import AgentLine
from voxline.voice.kit import VoiceKit
from voxline.voice.session import CallSession, SessionConfig
from voxline.voice.stages import FailureSink, StageFailure
from voxline.voice.tools import SessionTools
from voxline.voice.transport import MediaTransport

log = get_logger("engine.sessions")


@dataclass
class _Prepared:
    """A session being prepared (or ready) for a ringing call, and its expiry."""

    task: asyncio.Task[CallSession | None]
    expiry: asyncio.TimerHandle


class VoiceSessions:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        kit: VoiceKit | None = None,
        worker_id: str | None = None,
        providers: ProviderRegistry | None = None,
        metrics: TurnLatencies | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        # Where the turn latencies of finished audio sessions are observed.
        self.metrics = metrics
        # The carriers the agent's call control goes through (transfer, keys).
        self.providers = providers
        self.kit = kit or VoiceKit(settings)
        self.leases = LeaseKeeper(db, worker_id or new_worker_id(), settings.engine_lease_seconds)
        self._prepared: dict[str, _Prepared] = {}
        # One connection pool for the HTTP tools of every call in this process.
        self._tool_client: httpx.AsyncClient | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def brain(self, session: SessionProfile, tools: SessionTools | None = None) -> Brain:
        """The LLM brain for agents on a model when an LLM server is set; else scripted.
        Either is offered the agent's ``tools``."""
        profile = AgentProfile(
            system_prompt=render(session.system_prompt, session.variables),
            greeting=session.greeting,
            temperature=session.temperature,
            model=session.model,
            variables=session.variables,
            tools=tools.specs() if tools is not None else (),
        )
        if session.model != "scripted" and self.settings.llm_base_url:
            from voxline.voice.brain.openai import OpenAIBrain

            return OpenAIBrain(profile, self.settings)
        return ScriptedBrain(profile)

    async def prepare(self, call_id: str) -> CallSession | None:
        """A session for the call with its greeting already synthesized."""
        profile = await load_session_profile(self.db, call_id)
        if profile is None:
            return None
        tools = await self.tools(profile)
        session = CallSession(
            brain=self.brain(profile, tools),
            tools=tools,
            stt=self.kit.stt,
            tts=self.kit.tts,
            vad=self.kit.agent_vad(),
            end_of_turn=self.kit.turn_model,
            transcript=CallTranscript(self.db, call_id, enabled=profile.transcription_enabled),
            config=SessionConfig(
                silence_timeout_s=self.settings.silence_timeout_seconds,
                agent_voice=profile.voice_id,
                media_block_ms=self.settings.media_block_ms,
                media_phases=self.settings.media_phases,
            ),
            on_failure=self.failure_sink(call_id),
        )
        try:
            await session.prepare()
        except BaseException:
            await close_session(session)
            raise
        return session

    async def tools(self, profile: SessionProfile) -> SessionTools:
        """The agent's tools for this call: its HTTP tools and built-ins (messages rendered
        with the call's variables), the call's control and timeline."""
        loaded = await load_agent_tools(self.db, profile.agent_id, settings=self.settings)
        agent_tools = rendered(loaded, profile.variables)
        http = None
        if agent_tools.http:
            secrets = await signing_secrets_of(self.db, self.settings, profile.organization_id)
            inbound = profile.direction == CallDirection.INBOUND
            facts = CallFacts(
                call_id=profile.call_id,
                caller_number=profile.phone_number if inbound else profile.from_number,
                callee_number=profile.from_number if inbound else profile.phone_number,
            )
            http = HttpTools(self.settings, facts, secrets, client=self.tool_client())
        control = (
            CarrierCallControl(self.db, self.settings, self.providers, profile.call_id)
            if self.providers is not None
            else None
        )
        timeline = CallTimeline(self.db, profile.call_id, profile.organization_id)
        return SessionTools(agent_tools, control, http, timeline)

    def prepare_ahead(self, call_id: str) -> None:
        """Start preparing the call's session (its greeting synthesized) for a later
        :meth:`run_audio` in this process. Idempotent; at most ``prepared_sessions_max``
        are kept (beyond, the greeting is synthesized when the call is answered), each
        dropped after ``prepared_session_seconds`` or by :meth:`drop`."""
        if call_id in self._prepared:
            return
        if len(self._prepared) >= self.settings.prepared_sessions_max:
            log.info("no room to prepare a greeting", extra={"call_id": call_id})
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._prepare_quietly(call_id))
        expiry = loop.call_later(self.settings.prepared_session_seconds, self.drop, call_id)
        self._prepared[call_id] = _Prepared(task, expiry)

    async def _prepare_quietly(self, call_id: str) -> CallSession | None:
        try:
            return await self.prepare(call_id)
        except Exception:
            # run_audio prepares afresh; a failure here must not end the ringing call.
            log.exception("preparing a session failed", extra={"call_id": call_id})
            return None

    def prepared(self, call_id: str) -> bool:
        """Whether a session is kept (ready or being prepared) for the call."""
        return call_id in self._prepared

    def drop(self, call_id: str) -> None:
        """Forget the call's prepared session, if any (its call ended without audio here)."""
        prepared = self._prepared.pop(call_id, None)
        if prepared is None:
            return
        prepared.expiry.cancel()
        task = prepared.task
        if not task.done():
            task.cancel()
            return
        session = None if task.cancelled() else task.result()
        if session is not None:
            closing = asyncio.get_running_loop().create_task(close_session(session))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def _take(self, call_id: str) -> CallSession | None:
        """The call's prepared session, awaited if it is still being prepared; None if
        there is none."""
        prepared = self._prepared.pop(call_id, None)
        if prepared is None:
            return None
        prepared.expiry.cancel()
        try:
            return await prepared.task
        except asyncio.CancelledError:
            prepared.task.cancel()
            raise

    def tool_client(self) -> httpx.AsyncClient:
        """The HTTP client of agents' tools (made on first use; redirects not followed)."""
        if self._tool_client is None:
            self._tool_client = httpx.AsyncClient(
                follow_redirects=False, verify=tls.client_context()
            )
        return self._tool_client

    async def aclose(self) -> None:
        """Drop every prepared session (at shutdown)."""
        for call_id in list(self._prepared):
            self.drop(call_id)
        if self._tool_client is not None:
            await self._tool_client.aclose()
            self._tool_client = None
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def failure_sink(self, call_id: str) -> FailureSink:
        """Records a failed stage on the call: it ends ``provider_error`` with the reason in
        ``context.last_error`` (applied before the agent hangs up, so the hang-up that
        follows cannot record it as an ordinary ending)."""

        async def record(failure: StageFailure) -> None:
            event = ProviderEvent(
                call_id,
                CallEvent.FAILED,
                at=utcnow(),
                end_reason=EndReason.PROVIDER_ERROR,
                details={"message": failure.message},
            )
            await apply_event(self.db, event, self.settings.sandbox_time_scale)

        return record

    async def run_audio(
        self, call_id: str, transport: MediaTransport, session: CallSession | None = None
    ) -> None:
        """Hold the call on ``transport`` (with ``session``, else the one prepared while it
        rang, else a new one); store its recording and latency figures."""
        session = session or await self._take(call_id) or await self.prepare(call_id)
        profile = await load_session_profile(self.db, call_id)
        if session is None or profile is None:
            return
        recorder = None
        if profile.recording_enabled:
            # On local disk, or streamed to object storage as the call runs.
            recorder = await stores_for(self.settings).current.open(call_id)
            session.attach_recording(recorder)
        recording_path = None
        try:
            async with self.leases.hold(call_id):
                await session.run(transport)
        finally:
            await close_session(session)
            if recorder is not None:
                recording_path = await recorder.finish()
            await save_session_outcome(
                self.db,
                call_id,
                recording_path=recording_path,
                metrics=session.metrics.as_json(),
                latencies=self.metrics,
            )

    async def run_text(self, call_id: str, line: AgentLine, silence_timeout: float) -> None:
        """Hold a text-mode call (sandbox tests and capacity runs): the same
        :class:`CallSession` on the text line, without speech models. Its latency figures
        are not stored (no audio was played)."""
        profile = await load_session_profile(self.db, call_id)
        if profile is None:
            return
        tools = await self.tools(profile)
        session = CallSession(
            brain=self.brain(profile, tools),
            tools=tools,
            transcript=CallTranscript(self.db, call_id, enabled=profile.transcription_enabled),
            config=SessionConfig(silence_timeout_s=silence_timeout),
            on_failure=self.failure_sink(call_id),
        )
        try:
            async with self.leases.hold(call_id):
                await session.run_text(line)
        finally:
            await close_session(session)


async def close_brain(brain: Brain) -> None:
    """Release what a brain holds (an LLM brain's HTTP client)."""
    closer = getattr(brain, "aclose", None)
    if closer is not None:
        await closer()


async def close_session(session: CallSession) -> None:
    """Release what a session holds: its brain's and its HTTP tools' connections."""
    await close_brain(session.brain)
    http = session.tools.http if session.tools is not None else None
    if isinstance(http, HttpTools):
        await http.aclose()


def rendered(tools: AgentTools, variables: Mapping[str, str]) -> AgentTools:
    """``tools`` with the messages the agent says rendered with the call's variables."""
    transfer = tools.transfer
    if transfer is not None and transfer.message:
        transfer = replace(transfer, message=render(transfer.message, variables))
    voicemail = tools.voicemail
    if voicemail is not None:
        voicemail = replace(voicemail, message=render(voicemail.message, variables))
    return replace(tools, transfer=transfer, voicemail=voicemail)
