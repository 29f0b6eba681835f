"""Talking to an agent from the browser: the web-call page, starting a call, and its socket.

The page (``/agents/{id}/talk``) starts a call when the person presses *Start* (a form post
with the session's form token): a web call is recorded (:mod:`voxline.services.web_calls`)
and the page receives its id and a token for its socket, a media token of provider ``web``
for that one call (:mod:`voxline.telephony.media_tokens`). The page then opens
``/dashboard/webcall/ws?call_id=…`` and sends the token first (never in a URL). The socket
is accepted only with the dashboard session of the call's organization, for a web call still
waiting for its socket, and with that call's token; otherwise it is closed with 1008 before
any audio flows. Once accepted, the call is answered, the agent's voice session runs on the
socket (:class:`~voxline.telephony.web.transport.WebTransport`) until either side hangs up
or ``max_duration`` passes, and the call ends ``completed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from fastapi import APIRouter, Request, WebSocket
from starlette.responses import JSONResponse, Response

from voxline.api.deps import runtime_of
from voxline.dashboard.pages import BASE, render
from voxline.dashboard.session import ViewerDep, checked_form, viewer_of
from voxline.domain.calls import AnsweredBy, CallEvent, EndReason
from voxline.domain.lines import WEB
from voxline.errors import VoxlineError
from voxline.logging import get_logger
from voxline.services import agents, web_calls
from voxline.storage.types import utcnow
from voxline.telephony.base import ProviderEvent
from voxline.telephony.web.transport import WebTransport
from voxline.voice.channel import LineClosed

log = get_logger("dashboard.webcall")

router = APIRouter()

POLICY_VIOLATION = 1008
SOCKET_PATH = f"{BASE}/webcall/ws"


@router.get("/agents/{agent_id}/talk")
async def talk_page(request: Request, agent_id: str, viewer: ViewerDep) -> Response:
    agent = await agents.get_agent(runtime_of(request).db, viewer.org_id, agent_id)
    return render(request, "talk.html", {"agent": agent})


@router.post("/agents/{agent_id}/webcall")
async def start_web_call(request: Request, agent_id: str, viewer: ViewerDep) -> Response:
    """Record a web call with the agent; JSON with its id, the socket's path and its token
    (a refusal: ``{"error": message}`` with the API's status)."""
    await checked_form(request)
    runtime = runtime_of(request)
    try:
        call_id = await web_calls.start_web_call(
            runtime.db, runtime.settings, viewer.org_id, agent_id
        )
    except VoxlineError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    token = runtime.media_tokens.issue(WEB, call_id, time.time())
    body = {
        "call_id": call_id,
        "socket": f"{SOCKET_PATH}?call_id={call_id}",
        "token": token,
        "call_url": f"{BASE}/calls/{call_id}",
    }
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})


async def _refuse(socket: WebSocket, reason: str, call_id: str | None) -> None:
    log.warning("web call socket refused", extra={"reason": reason, "call_id": call_id})
    await socket.close(code=POLICY_VIOLATION)


@router.websocket("/webcall/ws")
async def web_call_socket(socket: WebSocket, call_id: str = "") -> None:
    runtime = runtime_of(socket)
    await socket.accept()
    viewer = await viewer_of(socket)
    if viewer is None:
        await _refuse(socket, "no session", None)
        return
    settings = await web_calls.waiting_web_call(runtime.db, viewer.org_id, call_id)
    if settings is None:
        await _refuse(socket, "no such waiting web call", None)
        return
    transport = WebTransport(socket)
    try:
        async with asyncio.timeout(runtime.settings.media_start_timeout_seconds):
            token = await transport.wait_start()
    except (TimeoutError, LineClosed):
        await _refuse(socket, "no start", call_id)
        return
    problem = runtime.media_tokens.problem(token, WEB, call_id, time.time())
    if problem is not None:
        await _refuse(socket, f"token {problem}", call_id)
        return
    if not runtime.live_streams.claim(call_id):
        await _refuse(socket, "call already connected", call_id)
        return
    try:
        await _hold(socket, call_id, transport, settings.max_duration_seconds)
    finally:
        runtime.live_streams.release(call_id)


async def _hold(
    socket: WebSocket, call_id: str, transport: WebTransport, max_duration: float
) -> None:
    """Answer the call, run the agent on the socket, end the call as it ended."""
    runtime = runtime_of(socket)
    await runtime.on_provider_events(
        [ProviderEvent(call_id, CallEvent.ANSWERED, utcnow(), answered_by=AnsweredBy.HUMAN)]
    )
    await transport.send_control("started")
    ending = CallEvent.HANGUP
    try:
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(transport.pump())
            try:
                async with asyncio.timeout(max_duration):
                    await runtime.sessions.run_audio(call_id, transport)
            except TimeoutError:
                ending = CallEvent.MAX_DURATION
                transport.hangup("agent")
            pump.cancel()
    finally:
        reason = None
        if ending is CallEvent.HANGUP:
            by_contact = transport.ended_by == "contact"
            reason = EndReason.CONTACT_HANGUP if by_contact else EndReason.AGENT_HANGUP
        event = ProviderEvent(call_id, ending, utcnow(), end_reason=reason)
        with contextlib.suppress(Exception):
            await asyncio.shield(runtime.on_provider_events([event]))
        await transport.finish()
