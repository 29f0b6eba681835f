"""The envelope, error handling and authentication shared by every route."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import API
from tests.factories import Tenant, app_for
from voxline.config import Settings
from voxline.services import keys
from voxline.storage.db import Database


async def test_unknown_route_answers_404_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/nope")
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["code"] == "not_found"
    assert uuid.UUID(body["meta"]["request_id"])
    assert response.headers["X-Request-ID"] == body["meta"]["request_id"]
    assert body["meta"]["ts"].endswith("Z")


async def test_missing_key_is_unauthorized(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{API}/agents")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_unknown_key_is_unauthorized(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Bearer vx_" + "a" * 40}
    response = await client.get(f"{API}/agents", headers=headers)
    assert response.status_code == 401


async def test_revoked_key_is_unauthorized(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    assert (await client.get(f"{API}/agents", headers=tenant.headers)).status_code == 200
    await keys.revoke_key(db, tenant.key_id)
    response = await client.get(f"{API}/agents", headers=tenant.headers)
    assert response.status_code == 401


async def test_malformed_json_is_bad_request(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        f"{API}/agents",
        content=b"{not json",
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


async def test_unexpected_errors_answer_500_without_internals(
    settings: Settings, db: Database
) -> None:
    app = app_for(settings, db=db)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == {
        "code": "internal_error",
        "message": "Internal server error",
        "details": {},
    }
    assert "hunter2" not in response.text
    assert response.headers["X-Request-ID"] == body["meta"]["request_id"]


async def test_validation_errors_name_the_field(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{API}/calls?limit=500", headers=tenant.headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"] == "limit"
