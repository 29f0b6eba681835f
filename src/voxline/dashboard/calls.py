"""The calls pages: the list with its filters, live statuses and a form to place a call;
one call with its outcome, recording, latency, timeline and transcript."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from voxline.api.deps import runtime_of
from voxline.dashboard import views
from voxline.dashboard.latency import latency_card
from voxline.dashboard.pages import BASE, fragment, render
from voxline.dashboard.session import ViewerDep, checked_form
from voxline.dashboard.waveform import waveform
from voxline.domain.calls import CallDirection, CallStatus
from voxline.errors import NotFound, ProviderError, ValidationFailed, VoxlineError
from voxline.services import agents, call_queries, call_timeline, calls
from voxline.services.call_records import Call

router = APIRouter()

PAGE_SIZE = 25
# A live list re-reads its page this often, and a stream lasts at most this long before the
# browser's EventSource reconnects (signing in again if the session has ended meanwhile).
LIVE_POLL_SECONDS = 1.0
LIVE_STREAM_SECONDS = 300.0
KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True, slots=True)
class ListView:
    """The filters and page of the calls list, as its query string gives them."""

    status: str = ""
    direction: str = ""
    agent_id: str = ""
    page: int = 1

    @classmethod
    def of(cls, request: Request) -> ListView:
        query = request.query_params
        try:
            page = max(1, int(query.get("page", "1")))
        except ValueError:
            page = 1
        return cls(
            status=query.get("status", ""),
            direction=query.get("direction", ""),
            agent_id=query.get("agent_id", ""),
            page=page,
        )

    def filters(self) -> call_queries.CallFilters:
        direction = None
        if self.direction:
            try:
                direction = CallDirection(self.direction)
            except ValueError:
                raise ValidationFailed.field("direction", "is not a direction") from None
        return call_queries.CallFilters(
            status=call_queries.parse_status(self.status) if self.status else None,
            direction=direction,
            agent_id=self.agent_id or None,
        )

    def query(self, **changes: Any) -> str:
        values = {
            "status": self.status,
            "direction": self.direction,
            "agent_id": self.agent_id,
            "page": self.page,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v not in ("", 1)})


async def _page(request: Request, org_id: str, view: ListView) -> dict[str, Any]:
    runtime = runtime_of(request)
    offset = (view.page - 1) * PAGE_SIZE
    items, total = await call_queries.list_calls(
        runtime.db, runtime.settings, org_id, view.filters(), limit=PAGE_SIZE, offset=offset
    )
    return {"calls": items, "total": total, "first": offset + 1, "last": offset + len(items)}


async def _agent_names(request: Request, org_id: str) -> dict[str, str]:
    listed = await agents.list_agents(runtime_of(request).db, org_id, limit=200)
    return {agent.id: agent.name for agent in listed.items}


@router.get("/calls")
async def calls_page(request: Request, viewer: ViewerDep) -> Response:
    view = ListView.of(request)
    page = await _page(request, viewer.org_id, view)
    names = await _agent_names(request, viewer.org_id)
    context = {
        **page,
        "view": view,
        "agents": names,
        "statuses": [s.value for s in CallStatus],
        "directions": [d.value for d in CallDirection],
        "page_size": PAGE_SIZE,
        "live_url": f"{BASE}/calls/live?{view.query()}",
        "form": _form_context(names),
    }
    return render(request, "calls.html", context)


def _form_context(
    names: dict[str, str], *, error: str | None = None, placed: Call | None = None, **given: str
) -> dict[str, Any]:
    """The place-a-call form: a fresh idempotency key each time it is drawn, so a double
    submit places one call."""
    return {
        "agents": names,
        "error": error,
        "placed": placed,
        "agent_id": given.get("agent_id", ""),
        "phone_number": given.get("phone_number", ""),
        "idempotency_key": str(uuid.uuid4()),
    }


@router.post("/calls")
async def place_call(request: Request, viewer: ViewerDep) -> Response:
    """Place an outbound call through the same use case as ``POST /calls``; a refusal shows
    its message in the form."""
    form = await checked_form(request)
    runtime = runtime_of(request)
    given = {k: form.get(k, "").strip() for k in ("agent_id", "phone_number")}
    key = form.get("idempotency_key") or None
    placed: Call | None = None
    error: str | None = None
    try:
        outcome = await calls.create_call(
            runtime.db,
            runtime.settings,
            viewer.org_id,
            calls.NewCall(agent_id=given["agent_id"], phone_number=given["phone_number"]),
            idempotency_key=f"dashboard:{key}" if key else None,
            render=lambda call: {"id": call.id},
        )
        if outcome.replayed and outcome.status == ProviderError.status:
            raise calls.replayed_refusal(outcome.body)
        call_id = str(outcome.body["id"])
        if not outcome.replayed:
            refused = await runtime.call_created(call_id)
            if isinstance(refused, ProviderError):
                raise refused
        placed = await call_queries.get_call(runtime.db, runtime.settings, viewer.org_id, call_id)
    except VoxlineError as exc:
        error = exc.message
    if "HX-Request" not in request.headers and placed is not None:
        return RedirectResponse(f"{BASE}/calls/{placed.id}", status_code=303)
    names = await _agent_names(request, viewer.org_id)
    context = {"form": _form_context(names, error=error, placed=placed, **given)}
    return render(request, "_place_call.html", context)


@router.get("/calls/live")
async def live_calls(request: Request, viewer: ViewerDep) -> Response:
    """Server-sent events for the calls list: ``rows`` (the table's body) and ``summary``
    whenever the page's calls or their statuses change. The server reads the page once a
    second for as long as the browser listens (at most ``LIVE_STREAM_SECONDS``)."""
    view = ListView.of(request)
    view.filters()  # a bad filter is refused before the stream starts
    names = await _agent_names(request, viewer.org_id)

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + LIVE_STREAM_SECONDS
        quiet_since = loop.time()
        seen: object = None
        yield f"retry: {int(LIVE_POLL_SECONDS * 2000)}\n\n"
        while loop.time() < ends and not await request.is_disconnected():
            page = await _page(request, viewer.org_id, view)
            state = (page["total"], [(c.id, c.status, c.updated_at) for c in page["calls"]])
            if state != seen:
                seen = state
                quiet_since = loop.time()
                context = {**page, "agents": names, "view": view, "page_size": PAGE_SIZE}
                yield _event("rows", fragment(request, "_call_rows.html", context))
                yield _event("summary", fragment(request, "_call_summary.html", context))
            elif loop.time() - quiet_since > KEEPALIVE_SECONDS:
                quiet_since = loop.time()
                yield ": keepalive\n\n"
            await asyncio.sleep(LIVE_POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _event(name: str, html: str) -> str:
    data = "".join(f"data: {line}\n" for line in html.strip().splitlines())
    return f"event: {name}\n{data}\n"


def _local(url: str | None) -> str | None:
    """A recording URL of this deployment as a path, so the page plays it from wherever it
    was opened (a provider's URL stays as it is)."""
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.path.startswith("/recordings/") else url


@router.get("/calls/{call_id}")
async def call_page(request: Request, call_id: str, viewer: ViewerDep) -> Response:
    runtime = runtime_of(request)
    db, settings = runtime.db, runtime.settings
    call = await call_queries.get_call(db, settings, viewer.org_id, call_id)
    entries = await call_timeline.call_timeline(db, viewer.org_id, call.id)
    try:
        transcript: call_queries.Transcript | None = await call_queries.get_transcript(
            db, viewer.org_id, call.id
        )
    except NotFound:
        transcript = None
    wave = None
    pruned_at = None
    if call.recording_url is None and call.settings.recording_enabled:
        pruned_at = await call_queries.recording_pruned_at(db, viewer.org_id, call.id)
    if call.recording_url is not None:
        try:
            path = await call_queries.local_recording(db, settings, viewer.org_id, call.id)
        except NotFound:
            path = None
        if path is not None:
            wave = await asyncio.to_thread(waveform, path)
    agent_name = None
    if call.agent_id is not None:
        try:
            agent_name = (await agents.get_agent(db, viewer.org_id, call.agent_id)).name
        except NotFound:
            agent_name = None
    context = {
        "call": call,
        "agent_name": agent_name,
        "timeline": views.timeline_items(entries),
        "transcript": transcript,
        "summary": transcript.summary if transcript else call.summary,
        "recording_src": _local(call.recording_url),
        "recording_pruned_at": pruned_at,
        "wave": wave,
        "latency": latency_card(call.metrics),
    }
    return render(request, "call.html", context)
