"""The dashboard's session and forms over HTTP (no browser): what a cookie holds, the form
token, revoked keys, the other organization's data."""

from __future__ import annotations

import re

import httpx

from tests.factories import Tenant, insert_agent, insert_call
from voxline.services import keys
from voxline.storage.db import Database


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def _signed_in(client: httpx.AsyncClient, tenant: Tenant) -> str:
    token = _token((await client.get("/dashboard/sign-in")).text)
    response = await client.post(
        "/dashboard/sign-in", data={"csrf": token, "api_key": tenant.api_key}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/calls"
    return _token((await client.get("/dashboard/calls")).text)


async def test_the_root_leads_to_the_dashboard(client: httpx.AsyncClient) -> None:
    response = await client.get("/", follow_redirects=True)
    assert response.url.path == "/dashboard/sign-in"
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_the_session_cookie_holds_no_key_and_cannot_be_read_by_scripts(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = _token((await client.get("/dashboard/sign-in")).text)
    response = await client.post(
        "/dashboard/sign-in", data={"csrf": token, "api_key": tenant.api_key}
    )
    cookie = response.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert tenant.api_key not in cookie
    assert tenant.api_key not in response.headers["location"]


async def test_a_form_without_the_session_token_is_refused(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    await _signed_in(client, tenant)
    agent_id = await insert_agent(db, tenant.org_id)
    response = await client.post(
        "/dashboard/calls",
        data={"csrf": "forged", "agent_id": agent_id, "phone_number": "+14155550123"},
    )
    assert response.status_code == 403
    listed = await client.get("/dashboard/calls")
    assert "No calls match" in listed.text


async def test_a_refused_call_shows_the_api_message_in_the_form(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    token = await _signed_in(client, tenant)
    agent_id = await insert_agent(db, tenant.org_id)
    response = await client.post(
        "/dashboard/calls",
        data={"csrf": token, "agent_id": agent_id, "phone_number": "555"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "must be in E.164 format" in response.text


async def test_revoking_the_key_signs_its_sessions_out(
    client: httpx.AsyncClient, db: Database, tenant: Tenant
) -> None:
    await _signed_in(client, tenant)
    await keys.revoke_key(db, tenant.key_id)
    response = await client.get("/dashboard/calls")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/sign-in"


async def test_another_organizations_call_and_agent_are_not_found(
    client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _signed_in(client, tenant)
    agent_id = await insert_agent(db, other_tenant.org_id)
    call_id = await insert_call(db, other_tenant.org_id, agent_id)
    assert (await client.get(f"/dashboard/calls/{call_id}")).status_code == 404
    assert (await client.get(f"/dashboard/agents/{agent_id}")).status_code == 404
    listed = await client.get("/dashboard/calls")
    assert call_id not in listed.text
