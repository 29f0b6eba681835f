"""The webhook endpoints API: create (secret shown once), list, read, change, delete, rotate,
test; validation, the SSRF guard at creation, tenant isolation, no secret after creation."""

from __future__ import annotations

import base64
import logging

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import API
from tests.factories import Tenant
from voxline.api.schemas.webhooks import EventTypeName
from voxline.config import Settings
from voxline.services.webhooks import SUBSCRIBABLE
from voxline.storage.db import Database
from voxline.storage.tables import events, webhook_deliveries, webhook_endpoints

URL = "https://hooks.example.com/voxline"


async def _count(db: Database, table: sa.Table) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def create(client: httpx.AsyncClient, tenant: Tenant, **body: object) -> dict[str, object]:
    payload = {"url": URL, "event_types": ["call.ended"], **body}
    response = await client.post(f"{API}/webhooks", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()["data"]
    return data


def test_the_schema_lists_every_subscribable_event_type() -> None:
    assert set(EventTypeName.__args__) == {t.value for t in SUBSCRIBABLE}


async def test_create_shows_a_standard_webhooks_secret_once(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await create(client, tenant, description="CRM", event_types=["call.ended"])
    secret = str(created["secret"])
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["enabled"] is True and created["event_types"] == ["call.ended"]
    read = await client.get(f"{API}/webhooks/{created['id']}", headers=tenant.headers)
    listed = await client.get(f"{API}/webhooks", headers=tenant.headers)
    patched = await client.patch(
        f"{API}/webhooks/{created['id']}", json={"description": "x"}, headers=tenant.headers
    )
    for response in (read, listed, patched):
        assert response.status_code == 200
        assert secret not in response.text and "secret" not in response.json()["data"]
    assert listed.json()["pagination"]["total"] == 1
    async with db.read() as conn:
        sealed = (await conn.execute(sa.select(webhook_endpoints.c.secret_sealed))).scalar_one()
    assert secret not in sealed
    assert secret not in caplog.text


async def test_rotation_returns_a_new_secret_and_the_overlap(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant)
    response = await client.post(
        f"{API}/webhooks/{created['id']}/rotate-secret", headers=tenant.headers
    )
    assert response.status_code == 200
    rotated = response.json()["data"]
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["previous_secret_expires_at"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@example.com/x"}, "url"),
        ({"event_types": []}, "event_types"),
        ({"event_types": ["call.exploded"]}, "event_types"),
        ({"event_types": ["webhook.test"]}, "event_types"),
        ({"description": "x" * 501}, "description"),
    ],
)
async def test_invalid_bodies_are_422_and_write_nothing(
    client: httpx.AsyncClient, tenant: Tenant, db: Database, body: dict[str, object], field: str
) -> None:
    payload = {"url": URL, "event_types": ["call.ended"], **body}
    response = await client.post(f"{API}/webhooks", json=payload, headers=tenant.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["field"].split(".")[0] == field
    assert await _count(db, webhook_endpoints) == 0


async def test_http_urls_are_refused_when_not_allowed(
    app_factory: object, settings: Settings, tenant: Tenant, db: Database
) -> None:
    app = app_factory(settings.model_copy(update={"webhooks_allow_http": False}))  # type: ignore[operator]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as client:
        refused = await client.post(
            f"{API}/webhooks",
            json={"url": "http://example.com/x", "event_types": ["call.ended"]},
            headers=tenant.headers,
        )
        accepted = await client.post(
            f"{API}/webhooks",
            json={"url": "https://93.184.215.14/x", "event_types": ["call.ended"]},
            headers=tenant.headers,
        )
    assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == "url"
    assert accepted.status_code == 201
    assert await _count(db, webhook_endpoints) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://0.0.0.0/x",
        "https://localhost/x",
    ],
)
async def test_private_network_urls_are_refused_unless_allowed(
    app_factory: object, settings: Settings, tenant: Tenant, db: Database, url: str
) -> None:
    strict = settings.model_copy(update={"webhooks_allow_private_networks": False})
    app = app_factory(strict)  # type: ignore[operator]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://voxline.test"
    ) as client:
        response = await client.post(
            f"{API}/webhooks",
            json={"url": url, "event_types": ["call.ended"]},
            headers=tenant.headers,
        )
        public = await client.post(
            f"{API}/webhooks",
            json={"url": "https://8.8.8.8/hook", "event_types": ["call.ended"]},
            headers=tenant.headers,
        )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "url"
    assert public.status_code == 201
    assert await _count(db, webhook_endpoints) == 1


async def test_another_organizations_endpoint_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database
) -> None:
    created = await create(client, tenant)
    base = f"{API}/webhooks/{created['id']}"
    headers = other_tenant.headers
    answers = [
        await client.get(base, headers=headers),
        await client.patch(base, json={"enabled": False}, headers=headers),
        await client.delete(base, headers=headers),
        await client.post(f"{base}/rotate-secret", headers=headers),
        await client.post(f"{base}/test", headers=headers),
        await client.get(f"{base}/deliveries", headers=headers),
        await client.post(
            f"{base}/replay", json={"since": "2020-01-01T00:00:00Z"}, headers=headers
        ),
        await client.get(f"{API}/webhooks/not-a-uuid", headers=tenant.headers),
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert (await client.get(f"{API}/webhooks", headers=headers)).json()["pagination"]["total"] == 0
    assert await _count(db, events) == 0
    mine = await client.get(base, headers=tenant.headers)
    assert mine.status_code == 200 and mine.json()["data"]["enabled"] is True


async def test_delete_and_test_event(
    client: httpx.AsyncClient, tenant: Tenant, db: Database
) -> None:
    created = await create(client, tenant)
    base = f"{API}/webhooks/{created['id']}"
    tested = await client.post(f"{base}/test", headers=tenant.headers)
    assert tested.status_code == 202
    log = await client.get(f"{base}/deliveries", headers=tenant.headers)
    assert [d["event"] for d in log.json()["data"]] == ["webhook.test"]
    assert log.json()["data"][0]["event_id"] == tested.json()["data"]["event_id"]
    deleted = await client.delete(base, headers=tenant.headers)
    assert deleted.status_code == 200 and deleted.json()["data"]["deleted"] is True
    assert (await client.get(base, headers=tenant.headers)).status_code == 404
    assert await _count(db, webhook_deliveries) == 0


async def test_openapi_documents_the_webhooks_api(client: httpx.AsyncClient) -> None:
    paths = (await client.get(f"{API}/openapi.json")).json()["paths"]
    for path in (
        "/webhooks",
        "/webhooks/{webhook_id}",
        "/webhooks/{webhook_id}/rotate-secret",
        "/webhooks/{webhook_id}/test",
        "/webhooks/{webhook_id}/deliveries",
        "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
        "/webhooks/{webhook_id}/replay",
    ):
        assert f"{API}{path}" in paths
