"""Reading calls: the list with its filters, one call, its recording and its transcript.

Every query is scoped to the caller's organization: another organization's call, like an
unknown or malformed id, is not found. The recording file route is the one exception: its
signed URL is the authorization, so it looks the call up by id alone.

A recording the retention policy deleted (``recording_pruned_at`` set) is 410 Gone, not
404: the client learns it will never come (a call that never had one stays 404).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from voxline.config import Settings
from voxline.crypto import UrlSigner
from voxline.domain.calls import STATUS_ALIASES, CallDirection, CallStatus
from voxline.domain.text import safe_text
from voxline.errors import Forbidden, Gone, NotFound, ValidationFailed
from voxline.recordings import stores_for
from voxline.services.call_records import (
    RECORD_COLUMNS,
    Call,
    CallSettings,
    RecordingLinks,
    parse_call_id,
    select_call,
    to_call,
)
from voxline.storage.db import Database
from voxline.storage.tables import call_counts, calls, transcript_turns

STATUS_FILTER_VALUES = (*(s.value for s in CallStatus), *STATUS_ALIASES)


def parse_status(text: str) -> CallStatus:
    """A status filter: a canonical status or one of its aliases (``in-progress``, ``ended``)."""
    if text in STATUS_ALIASES:
        return STATUS_ALIASES[text]
    try:
        return CallStatus(text)
    except ValueError:
        raise ValidationFailed.field(
            "status", f"must be one of {', '.join(STATUS_FILTER_VALUES)}"
        ) from None


def _as_utc(value: datetime | None, field_name: str) -> datetime | None:
    """A filter instant in UTC; a naive value is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed.field(field_name, "is out of range") from None


@dataclass(frozen=True, slots=True)
class CallFilters:
    """List filters; ``created_after`` and ``created_before`` are exclusive bounds."""

    status: CallStatus | None = None
    direction: CallDirection | None = None
    agent_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


async def list_calls(
    db: Database,
    settings: Settings,
    org_id: str,
    filters: CallFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Call], int]:
    """One page of the organization's calls, newest first, and the total that match."""
    query = page_query(org_id, filters, limit=limit, offset=offset)
    rows = await db.query(query.statement, query.params)
    total = int(rows[0].total)
    links = RecordingLinks(settings)
    return [to_call(row._mapping, links) for row in rows if row.id is not None], total


@dataclass(frozen=True, slots=True)
class PageQuery:
    """The statement of one ``GET /calls`` page and its parameters."""

    statement: sa.Select[Any]
    params: dict[str, Any]


def page_query(org_id: str, filters: CallFilters, *, limit: int, offset: int) -> PageQuery:
    """The total and the page of ``GET /calls`` as one statement, hence one snapshot: a
    call committed between a separate count and page query could otherwise be counted and
    not listed, or listed and not counted.

    It returns one row per call of the page, each carrying ``total``, or a single row with
    the total and no call (``id`` is null) when the page is empty.
    """
    after = _as_utc(filters.created_after, "created_after")
    before = _as_utc(filters.created_before, "created_before")
    given = {
        "status": filters.status.value if filters.status is not None else None,
        "direction": filters.direction.value if filters.direction is not None else None,
        "agent_id": filters.agent_id,
        "after": after,
        "before": before,
    }
    params = {k: v for k, v in given.items() if v is not None}
    statement = _page_statement(frozenset(params))
    return PageQuery(statement, {"org_id": org_id, "limit": limit, "offset": offset, **params})


@functools.cache
def _page_statement(filters: frozenset[str]) -> sa.Select[Any]:
    """The statement for one combination of filters, built once: values are parameters."""
    conditions = [calls.c.organization_id == sa.bindparam("org_id")]
    counted = [call_counts.c.organization_id == sa.bindparam("org_id")]
    for name in ("status", "direction", "agent_id"):
        if name in filters:
            conditions.append(calls.c[name] == sa.bindparam(name))
            counted.append(call_counts.c[name] == sa.bindparam(name))
    if "after" in filters:
        conditions.append(calls.c.created_at > sa.bindparam("after"))
    if "before" in filters:
        conditions.append(calls.c.created_at < sa.bindparam("before"))
    if "after" in filters or "before" in filters:
        # No counter is kept per instant: a time window is counted over its index range.
        count = sa.select(sa.func.count().label("n")).select_from(calls).where(*conditions)
    else:
        # Summed from the ``call_counts`` groups that the database's triggers keep exact
        # (migration 0002); SUM of a bigint is a numeric on PostgreSQL, hence the cast.
        n = sa.cast(sa.func.coalesce(sa.func.sum(call_counts.c.n), 0), sa.BigInteger)
        count = sa.select(n.label("n")).where(*counted)
    total = count.cte("total")
    offset = sa.bindparam("offset", type_=sa.Integer)
    page = (
        # ``total > offset`` lets both databases skip the index scan of a page past the end.
        sa.select(*RECORD_COLUMNS)
        .where(*conditions, sa.select(total.c.n).scalar_subquery() > offset)
        .order_by(calls.c.created_at.desc(), calls.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(offset)
        .subquery("page")
    )
    return (
        sa.select(total.c.n.label("total"), page)
        .select_from(total.outerjoin(page, sa.true()))
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


async def get_call(db: Database, settings: Settings, org_id: str, call_id: str) -> Call:
    canonical = parse_call_id(call_id)
    if canonical is None:
        raise NotFound.resource("Call", call_id)
    rows = await db.query(
        sa.select(*RECORD_COLUMNS).where(calls.c.id == canonical, calls.c.organization_id == org_id)
    )
    if not rows:
        raise NotFound.resource("Call", call_id)
    return to_call(rows[0]._mapping, RecordingLinks(settings))


async def get_recording_url(db: Database, settings: Settings, org_id: str, call_id: str) -> str:
    """The call's recording URL; 410 when the retention policy deleted it, 404 when
    recording is disabled or nothing exists yet."""
    call = await get_call(db, settings, org_id, call_id)
    if call.recording_url is None:
        if call.settings.recording_enabled:
            pruned_at = await recording_pruned_at(db, org_id, call.id)
            if pruned_at is not None:
                raise pruned_recording(call.id, pruned_at)
        raise NotFound("Recording not found", {"call_id": call.id})
    return call.recording_url


async def recording_pruned_at(db: Database, org_id: str, call_id: str) -> datetime | None:
    """When the retention policy deleted the organization's call's recording (None if it
    did not, or for an unknown call)."""
    canonical = parse_call_id(call_id)
    if canonical is None:
        return None
    rows = await db.query(
        sa.select(calls.c.recording_pruned_at).where(
            calls.c.id == canonical, calls.c.organization_id == org_id
        )
    )
    return rows[0].recording_pruned_at if rows else None


def pruned_recording(call_id: str, pruned_at: datetime) -> Gone:
    """The 410 of a recording the retention policy deleted at ``pruned_at``."""
    return Gone(
        "The recording was deleted after the retention period",
        {"call_id": call_id, "pruned_at": pruned_at.astimezone(UTC).isoformat()},
    )


async def local_recording(db: Database, settings: Settings, org_id: str, call_id: str) -> Path:
    """The file of the organization's call recording on this host; 404 when recording is
    disabled, the call is unknown, or the recording is no local file (a provider's, or an
    object in a bucket)."""
    async with db.read() as conn:
        row = await select_call(conn, org_id, call_id)
    if row is None:
        raise NotFound.resource("Call", call_id)
    enabled = CallSettings.from_json(row["settings"] or {}).recording_enabled
    location = row["recording_path"]
    store = stores_for(settings).owner(location) if location else None
    path = await store.local_file(location) if store is not None and enabled else None
    if path is None:
        raise NotFound("Recording not found", {"call_id": row["id"]})
    return path


@dataclass(frozen=True, slots=True)
class TranscriptTurn:
    speaker: str
    text: str
    timestamp: float


@dataclass(frozen=True, slots=True)
class Transcript:
    call_id: str
    turns: list[TranscriptTurn]
    summary: str | None


async def get_transcript(db: Database, org_id: str, call_id: str) -> Transcript:
    """The call's turns in order; 404 when transcription is disabled or no turn exists yet."""
    async with db.read() as conn:
        row = await select_call(conn, org_id, call_id)
        if row is None:
            raise NotFound.resource("Call", call_id)
        turns = (
            await conn.execute(
                sa.select(
                    transcript_turns.c.speaker,
                    transcript_turns.c.text,
                    transcript_turns.c.timestamp,
                )
                .where(transcript_turns.c.call_id == row["id"])
                .order_by(transcript_turns.c.seq)
            )
        ).all()
    enabled = CallSettings.from_json(row["settings"] or {}).transcription_enabled
    if not enabled or not turns:
        raise NotFound("Transcript not found", {"call_id": row["id"]})
    return Transcript(
        call_id=row["id"],
        turns=[TranscriptTurn(t.speaker, safe_text(t.text), float(t.timestamp)) for t in turns],
        summary=safe_text(row["summary"]) if row["summary"] is not None else None,
    )


@dataclass(frozen=True, slots=True)
class RecordingDownload:
    """Where a recording is fetched from: a ``path`` on this host, else a presigned ``url``
    of the object store (exactly one is set)."""

    path: Path | None = None
    url: str | None = None


async def signed_recording_file(
    db: Database,
    settings: Settings,
    call_id: str,
    *,
    expires: str | None,
    signature: str | None,
) -> RecordingDownload:
    """The recording behind a signed URL: 403 when the signature is missing, wrong or
    expired; 410 when the retention policy deleted it; 404 when the call, its recording,
    the file or the object is gone otherwise (or the object's bucket is no longer
    configured)."""
    try:
        expires_at = int(expires) if expires is not None else None
    except ValueError:
        expires_at = None
    signer = UrlSigner(settings.resolved_secret_key())
    if (
        expires_at is None
        or not signature
        or not signer.verify(RecordingLinks.path_for(call_id), expires_at, signature)
    ):
        raise Forbidden("The recording link is invalid or has expired")
    canonical = parse_call_id(call_id)
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    calls.c.settings, calls.c.recording_path, calls.c.recording_pruned_at
                ).where(calls.c.id == canonical)
            )
        ).first()
    if row is None:
        raise NotFound("Recording not found")
    if not CallSettings.from_json(row.settings or {}).recording_enabled:
        raise NotFound("Recording not found")
    if not row.recording_path:
        if row.recording_pruned_at is not None:
            raise pruned_recording(str(canonical), row.recording_pruned_at)
        raise NotFound("Recording not found")
    store = stores_for(settings).owner(row.recording_path)
    if store is None:
        raise NotFound("Recording not found")
    path = await store.local_file(row.recording_path)
    if path is not None:
        return RecordingDownload(path=path)
    url = await store.download_url(row.recording_path, f"{canonical}.wav")
    if url is None:
        raise NotFound("Recording not found")
    return RecordingDownload(url=url)
