"""The call use cases and records, below the HTTP layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factories import Tenant, insert_agent, insert_call, insert_number
from voxline.config import Settings, load_settings
from voxline.domain.calls import STATUS_ALIASES, CallStatus
from voxline.errors import NotFound, ValidationFailed
from voxline.services import call_queries, calls
from voxline.services.call_records import CallSettings, parse_call_id, recording_file
from voxline.storage.db import Database
from voxline.storage.types import utcnow

# --- pure rules ----------------------------------------------------------------------------


def test_variables_become_strings() -> None:
    values = {"s": "x", "i": -3, "f": 0.25, "t": True, "n": None, "big": 10**20}

    assert calls.normalize_variables(values, "variables") == {
        "s": "x",
        "i": "-3",
        "f": "0.25",
        "t": "true",
        "n": "",
        "big": "100000000000000000000",
    }


@pytest.mark.parametrize("value", [{"a": 1}, [1], float("nan"), float("inf")])
def test_non_scalar_or_non_finite_variables_name_their_key(value: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        calls.normalize_variables({"k": value}, "context")

    assert caught.value.details["field"] == "context.k"


def test_call_settings_round_trip_through_storage() -> None:
    settings = CallSettings(True, False, "Hi", 600.0, 12.5)

    assert CallSettings.from_json(settings.to_json()) == settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5B3F1C8E-4A41-4F0E-9A51-2D8A1D0F3C77", "5b3f1c8e-4a41-4f0e-9a51-2d8a1d0f3c77"),
        ("not-a-uuid", None),
        ("", None),
    ],
)
def test_call_ids_are_canonical_uuids(text: str, expected: str | None) -> None:
    assert parse_call_id(text) == expected


def test_status_filter_accepts_statuses_and_aliases() -> None:
    for status in CallStatus:
        assert call_queries.parse_status(status.value) is status
    for alias, status in STATUS_ALIASES.items():
        assert call_queries.parse_status(alias) is status
    with pytest.raises(ValidationFailed):
        call_queries.parse_status("cancelled")


def test_status_filter_schema_lists_exactly_the_accepted_values() -> None:
    from typing import get_args

    from voxline.api.schemas.calls import StatusFilter

    assert set(get_args(StatusFilter)) == set(call_queries.STATUS_FILTER_VALUES)


def test_recording_paths_stay_inside_the_recordings_directory(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, secret_key="k")

    inside = recording_file(settings, "2026/a.wav")
    assert inside == (tmp_path / "recordings" / "2026" / "a.wav").resolve()
    assert recording_file(settings, "../secret.key") is None
    assert recording_file(settings, "/etc/passwd") is None


# --- against the database ------------------------------------------------------------------


async def test_create_call_stores_the_row_the_engine_reads(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id, join_timeout_seconds=20.0)
    await insert_number(db, tenant.org_id, "+14155550199", outbound_agent_id=agent)
    new = calls.NewCall(
        agent_id=agent,
        phone_number="+14155550123",
        variables={"n": 1},
        overrides=calls.SettingsOverrides(max_duration="90s"),
    )

    outcome = await calls.create_call(
        db, settings, tenant.org_id, new, idempotency_key=None, render=lambda call: call.id
    )

    assert outcome.status == 201
    call = await call_queries.get_call(db, settings, tenant.org_id, outcome.body)
    assert call.status is CallStatus.QUEUED
    assert call.variables == {"n": "1"}
    assert call.settings.max_duration_seconds == 90.0
    assert call.settings.join_timeout_seconds == 20.0
    listed, total = await call_queries.list_calls(
        db, settings, tenant.org_id, call_queries.CallFilters(), limit=10, offset=0
    )
    assert total == 1
    assert listed == [call]


async def test_update_without_changes_is_rejected(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    call_id = await insert_call(db, tenant.org_id, agent)

    with pytest.raises(ValidationFailed):
        await calls.update_call(db, settings, tenant.org_id, call_id, calls.CallChanges())


async def test_bulk_delete_reports_malformed_ids_as_failed(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    call_id = await insert_call(db, tenant.org_id, agent)

    result = await calls.bulk_delete(db, settings, tenant.org_id, ["junk", call_id.upper()])

    assert result.deleted_ids == [call_id]
    assert result.failed_ids == ["junk"]
    with pytest.raises(NotFound):
        await call_queries.get_call(db, settings, tenant.org_id, call_id)


async def test_created_bounds_are_exclusive_and_naive_times_are_utc(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    at = utcnow().replace(microsecond=0)
    call_id = await insert_call(db, tenant.org_id, agent, created_at=at)

    async def matching(**bounds: datetime) -> list[str]:
        found, _ = await call_queries.list_calls(
            db, settings, tenant.org_id, call_queries.CallFilters(**bounds), limit=5, offset=0
        )
        return [c.id for c in found]

    naive = at.astimezone(UTC).replace(tzinfo=None)
    assert await matching(created_after=at) == []
    assert await matching(created_before=at) == []
    assert await matching(created_after=naive - timedelta(seconds=1)) == [call_id]
    assert await matching(created_before=naive + timedelta(seconds=1)) == [call_id]
