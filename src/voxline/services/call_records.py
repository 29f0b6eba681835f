"""The call record: what a call row means to the rest of Voxline.

Rows of ``calls`` become :class:`Call` values here, and only here, so the API, the use cases in
:mod:`voxline.services.calls` and the queries in :mod:`voxline.services.call_queries` agree on
the effective settings, the recording URL and which ids exist for an organization.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.config import Settings
from voxline.crypto import UrlSigner
from voxline.domain.call_changes import (
    DEFAULT_JOIN_TIMEOUT_SECONDS,
    DEFAULT_MAX_DURATION_SECONDS,
)
from voxline.domain.calls import CallDirection, CallStatus
from voxline.domain.money import from_micros
from voxline.domain.text import safe_json, safe_text
from voxline.errors import ProviderError
from voxline.logging import get_logger
from voxline.recordings import LocalRecordings, stores_for
from voxline.storage.events import SNAPSHOT_COLUMNS
from voxline.storage.tables import calls

log = get_logger("services.call_records")


@dataclass(frozen=True, slots=True)
class CallSettings:
    """The settings a call runs with: the agent's defaults merged with per-call overrides."""

    recording_enabled: bool
    transcription_enabled: bool
    greeting: str | None
    max_duration_seconds: float
    join_timeout_seconds: float
    # The agent leaves a voicemail message on a machine (``leave_voicemail``): answering-
    # machine detection then waits for the beep and does not end the call.
    leave_voicemail: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallSettings:
        return cls(
            recording_enabled=bool(data.get("recording_enabled", True)),
            transcription_enabled=bool(data.get("transcription_enabled", True)),
            greeting=greeting if isinstance(greeting := data.get("greeting"), str) else None,
            max_duration_seconds=float(
                data.get("max_duration_seconds", DEFAULT_MAX_DURATION_SECONDS)
            ),
            join_timeout_seconds=float(
                data.get("join_timeout_seconds", DEFAULT_JOIN_TIMEOUT_SECONDS)
            ),
            leave_voicemail=bool(data.get("leave_voicemail", False)),
        )


@dataclass(frozen=True, slots=True)
class Call:
    """A call as the API shows it; ``recording_url`` is already signed when Voxline serves it."""

    id: str
    agent_id: str | None  # None: an inbound call no agent took
    direction: CallDirection
    status: CallStatus
    phone_number: str
    from_number: str | None
    variables: dict[str, str]
    context: dict[str, Any]
    settings: CallSettings
    end_reason: str | None
    answered_by: str | None
    summary: str | None
    recording_url: str | None
    metrics: dict[str, Any] | None
    cost_usd: Decimal | None
    duration_seconds: int | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime


class RecordingLinks:
    """Builds the recording URL of a call: a signed Voxline URL for a local file, else the
    provider's cached URL; none when recording is disabled in the effective settings."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._signer: UrlSigner | None = None

    @staticmethod
    def path_for(call_id: str) -> str:
        return f"/recordings/{call_id}.wav"

    def url(self, row: sa.RowMapping, settings: CallSettings) -> str | None:
        """The recording URL of a call row whose effective settings are ``settings``."""
        if not settings.recording_enabled:
            return None
        if row["recording_path"]:
            if self._signer is None:
                self._signer = UrlSigner(self._settings.resolved_secret_key())
            signed = self._signer.sign(
                self.path_for(row["id"]), self._settings.recording_url_ttl_seconds
            )
            return f"{self._settings.base_url}{signed}"
        url: str | None = row["provider_recording_url"]
        return url


# The columns a Call is made of (the engine's bookkeeping columns are left out): the same
# ones a webhook event snapshots, so both render the same call object.
RECORD_COLUMNS = tuple(calls.c[name] for name in SNAPSHOT_COLUMNS)


def _object(value: Any) -> dict[str, Any]:
    """A stored JSON object made renderable (:func:`voxline.domain.text.safe_json`); anything
    else (an array or scalar written by something other than Voxline) shows as ``{}``."""
    safe = safe_json(value)
    return dict(safe) if isinstance(safe, Mapping) else {}


def _variables(value: Any) -> dict[str, str]:
    """Stored variables as strings, as the API shows them; a non-string value shows as its
    JSON text."""
    return {
        key: item if isinstance(item, str) else json.dumps(item)
        for key, item in _object(value).items()
    }


def _text(value: Any) -> Any:
    return safe_text(value) if isinstance(value, str) else value


def to_call(row: sa.RowMapping, links: RecordingLinks) -> Call:
    """The call of a row holding at least :data:`RECORD_COLUMNS`.

    Reading never fails on what a row holds: whatever wrote it, its text and JSON are shown
    through :func:`voxline.domain.text.safe_json` and :func:`~voxline.domain.text.safe_text`
    (NUL and lone surrogates become U+FFFD, objects nested deeper than the policy allows are
    cut to ``"[truncated]"``, non-finite numbers become null), so one row cannot make a page
    of ``GET /calls`` unreadable.
    """
    cost = row["cost_micros"]
    settings = CallSettings.from_json(_object(row["settings"]))
    metrics = row["metrics"]
    return Call(
        id=row["id"],
        agent_id=row["agent_id"],
        direction=CallDirection(row["direction"]),
        status=CallStatus(row["status"]),
        phone_number=_text(row["phone_number"]),
        from_number=_text(row["from_number"]),
        variables=_variables(row["variables"]),
        context=_object(row["context"]),
        settings=settings,
        end_reason=_text(row["end_reason"]),
        answered_by=_text(row["answered_by"]),
        summary=_text(row["summary"]),
        recording_url=_text(links.url(row, settings)),
        metrics=None if metrics is None else _object(metrics),
        cost_usd=from_micros(cost) if cost is not None else None,
        duration_seconds=row["duration_seconds"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def parse_call_id(text: str) -> str | None:
    """The canonical form of a call id, or ``None`` when ``text`` is no UUID (hence unknown)."""
    try:
        return str(uuid.UUID(text))
    except (ValueError, AttributeError, TypeError):
        return None


async def select_call(
    conn: AsyncConnection, org_id: str, call_id: str, *, for_update: bool = False
) -> sa.RowMapping | None:
    """The organization's call row, or ``None``; ``for_update`` locks it on PostgreSQL."""
    canonical = parse_call_id(call_id)
    if canonical is None:
        return None
    query = sa.select(calls).where(calls.c.id == canonical, calls.c.organization_id == org_id)
    if for_update and conn.dialect.name != "sqlite":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return row._mapping if row is not None else None


def recording_file(settings: Settings, relative: str) -> Path | None:
    """The absolute path of a recording kept on local disk, or ``None`` if it points outside
    the recordings directory (a stored path never escapes it, whatever wrote it)."""
    return LocalRecordings(settings.recordings_dir).path(relative)


async def remove_recording(settings: Settings, call_id: str, location: str | None) -> None:
    """Delete a recording (file or object) after its call row is gone; a failure is logged,
    not raised, because the row (the source of truth) is already deleted. An object left
    behind is deleted by the retention prune (``older_than``) when retention is set."""
    if not location:
        return
    store = stores_for(settings).owner(location)
    if store is None:
        return
    try:
        await store.delete(location)
    except (OSError, ProviderError) as exc:
        log.warning("recording not removed", extra={"call_id": call_id, "error": str(exc)})
