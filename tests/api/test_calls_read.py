"""GET /calls, GET /calls/{id}, and a call's recording URL and transcript."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import API
from tests.factories import Tenant, insert_agent, insert_call, insert_turn
from voxline.config import Settings
from voxline.crypto import UrlSigner
from voxline.storage.db import Database
from voxline.storage.types import utcnow

MISSING = "5b3f1c8e-4a41-4f0e-9a51-2d8a1d0f3c77"


@pytest.fixture
async def agent_id(db: Database, tenant: Tenant) -> str:
    return await insert_agent(db, tenant.org_id)


async def list_calls(client: httpx.AsyncClient, tenant: Tenant, **params: object) -> httpx.Response:
    return await client.get(f"{API}/calls", params=params, headers=tenant.headers)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [call["id"] for call in response.json()["data"]]


async def test_list_is_newest_first_and_paginated(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    start = utcnow()
    created = [
        await insert_call(db, tenant.org_id, agent_id, created_at=start + timedelta(seconds=i))
        for i in range(5)
    ]
    newest_first = list(reversed(created))

    everything = await list_calls(client, tenant)
    first_page = await list_calls(client, tenant, limit=2)
    last_page = await list_calls(client, tenant, limit=2, offset=4)

    assert ids(everything) == newest_first
    assert everything.json()["pagination"] == {
        "total": 5,
        "limit": 50,
        "offset": 0,
        "has_more": False,
    }
    assert ids(first_page) == newest_first[:2]
    assert first_page.json()["pagination"]["has_more"] is True
    assert ids(last_page) == newest_first[4:]
    assert last_page.json()["pagination"]["has_more"] is False


async def test_calls_created_at_the_same_instant_are_ordered_by_id(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    now = utcnow()
    created = [await insert_call(db, tenant.org_id, agent_id, created_at=now) for _ in range(4)]

    assert ids(await list_calls(client, tenant)) == sorted(created, reverse=True)


async def test_another_organizations_calls_are_not_listed(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant, agent_id: str
) -> None:
    mine = await insert_call(db, tenant.org_id, agent_id)
    foreign_agent = await insert_agent(db, other_tenant.org_id)
    await insert_call(db, other_tenant.org_id, foreign_agent)

    response = await list_calls(client, tenant)

    assert ids(response) == [mine]
    assert response.json()["pagination"]["total"] == 1


async def test_list_filters(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    start = utcnow() - timedelta(hours=1)
    other_agent = await insert_agent(db, tenant.org_id)
    done = await insert_call(db, tenant.org_id, agent_id, status="completed", created_at=start)
    talking = await insert_call(
        db, tenant.org_id, agent_id, status="in_progress", created_at=start + timedelta(minutes=1)
    )
    inbound = await insert_call(
        db,
        tenant.org_id,
        other_agent,
        status="completed",
        direction="inbound",
        created_at=start + timedelta(minutes=2),
    )

    assert set(ids(await list_calls(client, tenant, status="completed"))) == {done, inbound}
    assert ids(await list_calls(client, tenant, status="in_progress")) == [talking]
    assert ids(await list_calls(client, tenant, status="in-progress")) == [talking]
    assert set(ids(await list_calls(client, tenant, status="ended"))) == {done, inbound}
    assert ids(await list_calls(client, tenant, status="busy")) == []
    assert ids(await list_calls(client, tenant, direction="inbound")) == [inbound]
    assert ids(await list_calls(client, tenant, agent_id=other_agent)) == [inbound]
    after = (start + timedelta(seconds=30)).isoformat()
    before = (start + timedelta(seconds=90)).isoformat()
    assert ids(await list_calls(client, tenant, created_after=after)) == [inbound, talking]
    assert ids(await list_calls(client, tenant, created_before=before)) == [talking, done]
    assert ids(await list_calls(client, tenant, created_after=after, created_before=before)) == [
        talking
    ]
    combined = await list_calls(client, tenant, status="completed", direction="outbound")
    assert ids(combined) == [done]
    assert combined.json()["pagination"]["total"] == 1


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "cancelled"),
        ("direction", "webrtc"),
        ("agent_id", "agent-1"),
        ("created_after", "yesterday"),
        ("created_before", "2026-13-01T00:00:00Z"),
        ("created_before", "1700000000"),
        ("created_after", "2026-03-01"),
        ("limit", 0),
        ("limit", 101),
        ("limit", "ten"),
        ("offset", -1),
    ],
)
async def test_invalid_list_parameters_are_validation_errors(
    client: httpx.AsyncClient, tenant: Tenant, param: str, value: object
) -> None:
    response = await list_calls(client, tenant, **{param: value})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == param


async def test_get_returns_the_call_object(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    started = utcnow() - timedelta(minutes=3)
    call_id = await insert_call(
        db,
        tenant.org_id,
        agent_id,
        direction="inbound",
        phone_number="+14155550142",
        started_at=started,
        ended_at=started + timedelta(seconds=75),
        duration_seconds=75,
        cost_micros=62_500,
        summary="Booked a table",
        end_reason="contact_hangup",
        answered_by="human",
        metrics={"first_audio_ms": 640},
        variables={"first_name": "Jane"},
        context={"priority": "high"},
    )

    response = await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)

    assert response.status_code == 200
    call = response.json()["data"]
    assert call["id"] == call_id
    assert call["direction"] == "inbound"
    assert call["phone_number"] == "+14155550142"
    assert call["from_number"] == "+14155550199"
    assert call["status"] == "completed"
    assert call["duration_seconds"] == 75
    assert call["cost_usd"] == 0.0625
    assert call["summary"] == "Booked a table"
    assert call["end_reason"] == "contact_hangup"
    assert call["answered_by"] == "human"
    assert call["metrics"] == {"first_audio_ms": 640}
    assert call["variables"] == {"first_name": "Jane"}
    assert call["context"] == {"priority": "high"}
    assert call["started_at"].endswith("Z")
    assert call["call_settings"]["max_duration"] == "3600s"


@pytest.mark.parametrize("suffix", ["", "/recording", "/transcript"])
async def test_unknown_malformed_and_foreign_ids_are_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant, suffix: str
) -> None:
    foreign_agent = await insert_agent(db, other_tenant.org_id)
    foreign = await insert_call(
        db, other_tenant.org_id, foreign_agent, recording_path="x.wav", summary="s"
    )
    await insert_turn(db, foreign, 0, "agent", "Hello", 0.0)

    for call_id in (MISSING, "not-a-uuid", "1", foreign):
        response = await client.get(f"{API}/calls/{call_id}{suffix}", headers=tenant.headers)
        assert response.status_code == 404, call_id
        assert response.json()["error"]["code"] == "not_found"


async def test_a_local_recording_gets_an_expiring_signed_url(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant, agent_id: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, recording_path=f"{agent_id}/a.wav")

    response = await client.get(f"{API}/calls/{call_id}/recording", headers=tenant.headers)
    call = (await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)).json()["data"]

    assert response.status_code == 200
    url = urlsplit(response.json()["data"]["recording_url"])
    assert f"{url.scheme}://{url.netloc}" == settings.base_url
    assert url.path == f"/recordings/{call_id}.wav"
    query = parse_qs(url.query)
    expires = int(query["expires"][0])
    assert expires - utcnow().timestamp() == pytest.approx(
        settings.recording_url_ttl_seconds, abs=5
    )
    signer = UrlSigner(settings.resolved_secret_key())
    assert signer.verify(url.path, expires, query["signature"][0])
    assert urlsplit(call["recording_url"]).path == url.path


async def test_a_provider_recording_url_is_returned_as_cached(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    provider_url = "https://api.twilio.example/Recordings/RE123.mp3"
    call_id = await insert_call(db, tenant.org_id, agent_id, provider_recording_url=provider_url)

    response = await client.get(f"{API}/calls/{call_id}/recording", headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["data"] == {"recording_url": provider_url}


async def test_no_recording_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    nothing_yet = await insert_call(db, tenant.org_id, agent_id)
    disabled = await insert_call(
        db,
        tenant.org_id,
        agent_id,
        settings={"recording_enabled": False},
        recording_path="kept.wav",
        provider_recording_url="https://provider.example/r.mp3",
    )

    for call_id in (nothing_yet, disabled):
        response = await client.get(f"{API}/calls/{call_id}/recording", headers=tenant.headers)
        assert response.status_code == 404
        call = await client.get(f"{API}/calls/{call_id}", headers=tenant.headers)
        assert call.json()["data"]["recording_url"] is None


async def test_transcript_is_ordered_with_the_summary(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    call_id = await insert_call(db, tenant.org_id, agent_id, summary="Confirmed Thursday")
    await insert_turn(db, call_id, 2, "agent", "See you Thursday.", 6.5)
    await insert_turn(db, call_id, 0, "agent", "Hello Jane!", 0.4)
    await insert_turn(db, call_id, 1, "contact", "Hi, yes.", 2.25)

    response = await client.get(f"{API}/calls/{call_id}/transcript", headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["data"] == {
        "call_id": call_id,
        "transcript": [
            {"speaker": "agent", "text": "Hello Jane!", "timestamp": 0.4},
            {"speaker": "contact", "text": "Hi, yes.", "timestamp": 2.25},
            {"speaker": "agent", "text": "See you Thursday.", "timestamp": 6.5},
        ],
        "summary": "Confirmed Thursday",
    }


async def test_no_transcript_is_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, agent_id: str
) -> None:
    no_turns = await insert_call(db, tenant.org_id, agent_id, status="in_progress")
    disabled = await insert_call(
        db, tenant.org_id, agent_id, settings={"transcription_enabled": False}
    )
    await insert_turn(db, disabled, 0, "agent", "Hello", 0.0)

    for call_id in (no_turns, disabled):
        response = await client.get(f"{API}/calls/{call_id}/transcript", headers=tenant.headers)
        assert response.status_code == 404
