"""GET /recordings/{call_id}.wav: the file behind a signed, expiring recording URL; and a
recording the retention policy pruned, which both recording endpoints answer 410 Gone."""

from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import API
from tests.factories import Tenant, insert_agent, insert_call
from voxline.config import Settings
from voxline.crypto import UrlSigner
from voxline.services.recording_retention import prune_recordings
from voxline.storage.db import Database
from voxline.storage.types import utcnow

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt "


@pytest.fixture
async def call_id(db: Database, settings: Settings, tenant: Tenant) -> str:
    agent = await insert_agent(db, tenant.org_id)
    call = await insert_call(db, tenant.org_id, agent, recording_path="calls/r.wav")
    path = settings.recordings_dir / "calls" / "r.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(AUDIO)
    return call


async def signed_path(client: httpx.AsyncClient, tenant: Tenant, call_id: str) -> str:
    """The path and query of the recording URL the API hands out."""
    response = await client.get(f"{API}/calls/{call_id}/recording", headers=tenant.headers)
    assert response.status_code == 200, response.text
    url = urlsplit(response.json()["data"]["recording_url"])
    return f"{url.path}?{url.query}"


async def test_a_signed_url_serves_the_file_without_an_api_key(
    client: httpx.AsyncClient, tenant: Tenant, call_id: str
) -> None:
    response = await client.get(await signed_path(client, tenant, call_id))

    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.content == AUDIO


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p.replace("signature=", "signature=x"),
        lambda p: p.split("&signature=")[0],
        lambda p: p.split("?")[0],
        lambda p: p.replace("expires=", "expires=1"),
        lambda p: p.replace("expires=", "expires=soon"),
    ],
)
async def test_a_tampered_url_is_forbidden(
    client: httpx.AsyncClient, tenant: Tenant, call_id: str, mangle: object
) -> None:
    assert callable(mangle)
    response = await client.get(mangle(await signed_path(client, tenant, call_id)))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_a_signature_for_another_call_is_forbidden(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, call_id: str
) -> None:
    agent = await insert_agent(db, tenant.org_id)
    other = await insert_call(db, tenant.org_id, agent, recording_path="calls/r.wav")
    path = await signed_path(client, tenant, call_id)

    response = await client.get(path.replace(call_id, other))

    assert response.status_code == 403


async def test_an_expired_url_is_forbidden(
    client: httpx.AsyncClient, settings: Settings, call_id: str
) -> None:
    signer = UrlSigner(settings.resolved_secret_key())
    path = signer.sign(f"/recordings/{call_id}.wav", 60, now=time.time() - 120)

    response = await client.get(path)

    assert response.status_code == 403


async def test_a_missing_file_or_deleted_call_is_not_found(
    client: httpx.AsyncClient, settings: Settings, tenant: Tenant, call_id: str
) -> None:
    path = await signed_path(client, tenant, call_id)
    (settings.recordings_dir / "calls" / "r.wav").unlink()

    assert (await client.get(path)).status_code == 404
    deleted = await client.delete(f"{API}/calls/{call_id}", headers=tenant.headers)
    assert deleted.status_code == 200
    assert (await client.get(path)).status_code == 404


async def test_a_path_outside_the_recordings_directory_is_never_served(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    secret = settings.data_dir / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("not audio")
    agent = await insert_agent(db, tenant.org_id)
    call = await insert_call(db, tenant.org_id, agent, recording_path="../secret.txt")
    signer = UrlSigner(settings.resolved_secret_key())

    response = await client.get(signer.sign(f"/recordings/{call}.wav", 60))

    assert response.status_code == 404


async def test_the_file_route_is_not_in_the_openapi_document(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get(f"{API}/openapi.json")).json()

    assert not [path for path in document["paths"] if path.startswith("/recordings")]


async def _old_call_with_recording(db: Database, settings: Settings, tenant: Tenant) -> str:
    """A call that ended 10 days ago with its recording on disk."""
    agent = await insert_agent(db, tenant.org_id)
    ended = utcnow() - timedelta(days=10)
    call = await insert_call(
        db, tenant.org_id, agent, recording_path=f"{tenant.org_id}.wav", ended_at=ended
    )
    (settings.recordings_dir / f"{tenant.org_id}.wav").write_bytes(AUDIO)
    return call


async def test_a_pruned_recording_is_gone_and_one_never_made_is_not_found(
    client: httpx.AsyncClient, db: Database, settings: Settings, tenant: Tenant
) -> None:
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    pruned = await _old_call_with_recording(db, settings, tenant)
    path = await signed_path(client, tenant, pruned)  # handed out before the prune
    agent = await insert_agent(db, tenant.org_id)
    never = await insert_call(db, tenant.org_id, agent, ended_at=utcnow() - timedelta(days=10))

    retention = settings.model_copy(update={"recordings_retention_days": 7})
    assert (await prune_recordings(db, retention)).deleted == 1

    gone = await client.get(f"{API}/calls/{pruned}/recording", headers=tenant.headers)
    assert gone.status_code == 410, gone.text
    error = gone.json()["error"]
    assert error["code"] == "gone"
    assert error["details"]["call_id"] == pruned
    assert error["details"]["pruned_at"].startswith(str(utcnow().year))
    assert gone.json()["meta"]["request_id"] == gone.headers["x-request-id"]
    signed = await client.get(path)
    assert signed.status_code == 410
    assert signed.json()["error"]["code"] == "gone"
    # The call itself is still there, without a recording URL.
    call = await client.get(f"{API}/calls/{pruned}", headers=tenant.headers)
    assert call.status_code == 200 and call.json()["data"]["recording_url"] is None

    missing = await client.get(f"{API}/calls/{never}/recording", headers=tenant.headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_another_organizations_pruned_recording_is_not_found(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    tenant: Tenant,
    other_tenant: Tenant,
) -> None:
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    theirs = await _old_call_with_recording(db, settings, other_tenant)
    retention = settings.model_copy(update={"recordings_retention_days": 7})
    assert (await prune_recordings(db, retention)).deleted == 1
    own = await client.get(f"{API}/calls/{theirs}/recording", headers=other_tenant.headers)
    assert own.status_code == 410

    response = await client.get(f"{API}/calls/{theirs}/recording", headers=tenant.headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
