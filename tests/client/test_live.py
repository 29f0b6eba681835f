"""The SDK against a live server over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.client.conftest import FROM, TO, LiveApi
from tests.factories import insert_call, insert_turn
from voxline.client import (
    AsyncVoxline,
    Conflict,
    NotFound,
    Unauthorized,
    ValidationError,
    Voxline,
)


def client_for(live: LiveApi, api_key: str | None = None) -> Voxline:
    return Voxline(live.base_url, api_key or live.tenant.api_key, timeout=10)


async def test_an_agent_and_a_call_go_through_their_whole_life(live: LiveApi) -> None:
    with client_for(live) as vx:
        agent = vx.agents.create("Ava", "You are Ava.", greeting="Hi!", model="scripted")
        assert agent.name == "Ava" and agent.status == "active"
        assert vx.agents.get(agent.id) == agent
        assert vx.agents.update(agent.id, greeting=None).greeting is None
        assert agent.id in {a.id for a in vx.agents.iter()}

        call = vx.calls.create(live.agent_id, TO, variables={"first_name": "Ada"})
        assert call.status == "queued" and not call.ended
        assert call.from_number == FROM
        assert call.variables == {"first_name": "Ada"}
        assert vx.calls.get(call.id).id == call.id
        with pytest.raises(NotFound):  # nothing said yet
            vx.calls.transcript(call.id)
        updated = vx.calls.update(call.id, context={"note": "vip"})
        assert updated.context["note"] == "vip"
        # A queued call is not over yet, so it cannot be deleted.
        with pytest.raises(Conflict):
            vx.calls.delete(call.id)

        ended = await insert_call(live.db, live.tenant.org_id, live.agent_id)
        await insert_turn(live.db, ended, 0, "agent", "Hello there", 0.5)
        turns = vx.calls.transcript(ended).transcript
        assert [(t.speaker, t.text) for t in turns] == [("agent", "Hello there")]
        assert vx.calls.delete(ended).deleted
        with pytest.raises(NotFound):
            vx.calls.get(ended)


async def test_the_iterator_walks_every_page(live: LiveApi) -> None:
    ids = {await insert_call(live.db, live.tenant.org_id, live.agent_id) for _ in range(7)}
    await insert_call(live.db, live.tenant.org_id, live.agent_id, status="failed")
    with client_for(live) as vx:
        page = vx.calls.list(status="completed", limit=3)
        assert len(page.data) == 3 and page.pagination.total == 7 and page.pagination.has_more
        assert {c.id for c in vx.calls.iter(status="completed", page_size=3)} == ids
        assert len(list(vx.calls.iter(page_size=2))) == 8


async def test_the_async_client_does_the_same(live: LiveApi) -> None:
    ids = {await insert_call(live.db, live.tenant.org_id, live.agent_id) for _ in range(3)}
    async with AsyncVoxline(live.base_url, live.tenant.api_key, timeout=10) as vx:
        call = await vx.calls.create(live.agent_id, TO)
        assert (await vx.calls.get(call.id)).status == "queued"
        seen = {c.id async for c in vx.calls.iter(status="completed", page_size=2)}
        assert seen == ids
        voices = await vx.voices.list()
        assert voices and (await vx.voices.get(voices[0].id)) == voices[0]
        numbers = [n async for n in vx.numbers.iter()]
        assert [n.phone_number for n in numbers] == [FROM]


async def test_another_organizations_call_is_not_found(live: LiveApi) -> None:
    theirs = await insert_call(live.db, live.other.org_id, None)
    with client_for(live) as vx, pytest.raises(NotFound) as caught:
        vx.calls.get(theirs)
    assert caught.value.status == 404 and caught.value.code == "not_found"
    assert caught.value.request_id


async def test_a_bad_body_is_a_validation_error_naming_the_field(live: LiveApi) -> None:
    with client_for(live) as vx, pytest.raises(ValidationError) as caught:
        vx.calls.create(live.agent_id, "not-a-number")
    assert caught.value.status == 422
    assert caught.value.field == "phone_number"
    assert caught.value.details["field"] == "phone_number"


async def test_a_bad_key_is_unauthorized_and_never_shown(live: LiveApi) -> None:
    secret = "vx_live_not_a_real_key_0123456789"
    with client_for(live, secret) as vx, pytest.raises(Unauthorized) as caught:
        vx.calls.list()
    assert caught.value.status == 401
    assert secret not in repr(vx) + str(caught.value) + repr(caught.value)


async def test_numbers_are_assigned_and_unassigned(live: LiveApi) -> None:
    with client_for(live) as vx:
        (number,) = vx.numbers.list().data
        assert number.outbound_agent_id == live.agent_id
        assert vx.numbers.assign(number.id, live.agent_id, "inbound").inbound_agent_id == (
            live.agent_id
        )
        assert vx.numbers.unassign(number.id, "outbound").outbound_agent_id is None
