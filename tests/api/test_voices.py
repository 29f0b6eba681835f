"""The Voices API: the catalogue of voices an agent can use."""

from __future__ import annotations

import httpx

from tests.conftest import API
from tests.factories import Tenant


async def test_list_voices_returns_the_catalogue(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{API}/voices", headers=tenant.headers)

    assert response.status_code == 200
    voices = response.json()["data"]
    by_id = {voice["id"]: voice for voice in voices}
    assert by_id["espeak-en-us"] == {
        "id": "espeak-en-us",
        "name": "espeak-ng US English",
        "provider": "espeak-ng",
        "type": "reference",
        "language": "en-US",
        "status": "active",
    }
    assert by_id["piper-en-us-joe"]["provider"] == "piper"
    assert {voice["status"] for voice in voices} == {"active"}


async def test_get_voice_returns_one(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{API}/voices/piper-en-us-joe", headers=tenant.headers)

    assert response.status_code == 200
    assert response.json()["data"]["language"] == "en-US"


async def test_get_unknown_voice_is_not_found(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{API}/voices/no-such-voice", headers=tenant.headers)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_voices_require_an_api_key(client: httpx.AsyncClient) -> None:
    listed = await client.get(f"{API}/voices")
    one = await client.get(f"{API}/voices/espeak-en-us")

    assert listed.status_code == one.status_code == 401


async def test_a_listed_voice_can_be_given_to_an_agent(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    voices = (await client.get(f"{API}/voices", headers=tenant.headers)).json()["data"]
    body = {"name": "Ava", "system_prompt": "Be kind.", "voice_id": voices[-1]["id"]}

    response = await client.post(f"{API}/agents", json=body, headers=tenant.headers)

    assert response.status_code == 201
    assert response.json()["data"]["voice_id"] == voices[-1]["id"]
