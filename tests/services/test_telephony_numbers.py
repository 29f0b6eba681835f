"""Numbers an organization holds, and the sandbox carrier's numbers for sale."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from tests.factories import Tenant, insert_agent
from voxline.config import Settings
from voxline.errors import NotFound, ValidationFailed
from voxline.services import credentials, inventory, numbers
from voxline.storage.db import Database
from voxline.storage.tables import telephony_credentials

TWILIO = {"account_sid": "AC" + "1" * 32, "auth_token": "a" * 32}


async def test_search_offers_the_free_numbers_of_the_sandbox_range(db: Database) -> None:
    result = await inventory.search_numbers(db, page_size=5)
    assert [n.phone_number for n in result.items] == [f"+1415555100{i}" for i in range(5)]
    assert (result.total_results, result.total_pages, result.has_more) == (1000, 200, True)
    assert all(n.monthly_cost == 0 and n.currency == "USD" for n in result.items)


async def test_search_leaves_out_numbers_held_by_any_organization(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    await numbers.purchase_number(db, settings, tenant.org_id, "+12125551000")
    await numbers.import_number(db, settings, other_tenant.org_id, "+12125551001", "sandbox")
    result = await inventory.search_numbers(db, area_code="212", page_size=2)
    assert [n.phone_number for n in result.items] == ["+12125551002", "+12125551003"]
    assert result.total_results == 998


async def test_search_last_page_and_beyond(db: Database) -> None:
    last = await inventory.search_numbers(db, page=10, page_size=100)
    beyond = await inventory.search_numbers(db, page=11, page_size=100)
    assert last.items[-1].phone_number == "+14155551999"
    assert not last.has_more
    assert (beyond.items, beyond.has_more, beyond.total_results) == ([], False, 1000)


async def test_search_finds_no_sandbox_numbers_of_other_types(db: Database) -> None:
    result = await inventory.search_numbers(db, phone_number_type="toll-free")
    assert (result.items, result.total_results, result.total_pages) == ([], 0, 0)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"provider_type": "twilio"}, "provider_type"),
        ({"provider_type": "nope"}, "provider_type"),
        ({"country_code": "CA"}, "country_code"),
        ({"area_code": "123"}, "area_code"),
        ({"phone_number_type": "satellite"}, "phone_number_type"),
        ({"page": 0}, "page"),
        ({"page_size": 101}, "page_size"),
    ],
)
async def test_search_rejects_what_it_cannot_answer(
    db: Database, query: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await inventory.search_numbers(db, **query)  # type: ignore[arg-type]
    assert caught.value.details["field"] == field


async def test_purchase_takes_a_number_of_the_range(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    number = await numbers.purchase_number(
        db, settings, tenant.org_id, "+14155551234", friendly_name="  Support  "
    )
    assert (number.provider_type, number.is_managed, number.status) == ("sandbox", True, "active")
    assert number.friendly_name == "Support"
    assert number.credential_id is None


@pytest.mark.parametrize(
    ("phone", "provider", "field"),
    [
        ("+14155550100", "sandbox", "phone_number"),
        ("4155551234", "sandbox", "phone_number"),
        ("+14155551234", "twilio", "provider_type"),
    ],
)
async def test_purchase_refuses_what_the_sandbox_does_not_sell(
    db: Database, settings: Settings, tenant: Tenant, phone: str, provider: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await numbers.purchase_number(db, settings, tenant.org_id, phone, provider)
    assert caught.value.details["field"] == field


async def test_concurrent_purchases_of_one_number_sell_it_once(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    outcomes = await asyncio.gather(
        *(
            numbers.purchase_number(db, settings, org, "+14155551500")
            for org in (tenant.org_id, other_tenant.org_id) * 3
        ),
        return_exceptions=True,
    )
    sold = [o for o in outcomes if isinstance(o, numbers.PhoneNumber)]
    assert len(sold) == 1
    # The buyer's two other attempts conflict; the other organization's three find it not
    # available.
    refused = [o for o in outcomes if o not in sold]
    assert sorted(type(o).__name__ for o in refused) == ["Conflict"] * 2 + ["ValidationFailed"] * 3


async def test_a_refused_import_stores_no_credential(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    await numbers.purchase_number(db, settings, tenant.org_id, "+14155551000")
    with pytest.raises(ValidationFailed):
        await numbers.import_number(
            db, settings, other_tenant.org_id, "+14155551000", "twilio", TWILIO
        )
    async with db.read() as conn:
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(telephony_credentials))
        ).scalar_one()
    assert count == 0


async def test_assigning_moves_a_number_between_agents_per_direction(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    ava, bob = (await insert_agent(db, tenant.org_id), await insert_agent(db, tenant.org_id))
    number = await numbers.purchase_number(db, settings, tenant.org_id, "+14155551000")
    await numbers.assign_number(db, tenant.org_id, number.id, ava, "inbound")
    await numbers.assign_number(db, tenant.org_id, number.id, ava, "outbound")
    moved = await numbers.assign_number(db, tenant.org_id, number.id, bob, "inbound")
    assert (moved.inbound_agent_id, moved.outbound_agent_id) == (bob, ava)
    ava_numbers = await numbers.agent_numbers(db, tenant.org_id, ava)
    bob_numbers = await numbers.agent_numbers(db, tenant.org_id, bob)
    assert ([n.id for n in ava_numbers.inbound], [n.id for n in ava_numbers.outbound]) == (
        [],
        [number.id],
    )
    assert ([n.id for n in bob_numbers.inbound], bob_numbers.outbound) == ([number.id], [])


async def test_unassigning_clears_one_direction_only(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    ava = await insert_agent(db, tenant.org_id)
    number = await numbers.purchase_number(db, settings, tenant.org_id, "+14155551000")
    await numbers.assign_number(db, tenant.org_id, number.id, ava, "inbound")
    await numbers.assign_number(db, tenant.org_id, number.id, ava, "outbound")
    cleared = await numbers.unassign_number(db, tenant.org_id, number.id, "outbound")
    again = await numbers.unassign_number(db, tenant.org_id, number.id, "outbound")
    assert (cleared.inbound_agent_id, cleared.outbound_agent_id) == (ava, None)
    assert again == cleared


async def test_ids_accept_any_uuid_spelling_and_refuse_non_uuids(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    number = await numbers.purchase_number(db, settings, tenant.org_id, "+14155551000")
    found = await numbers.get_number(db, tenant.org_id, number.id.upper())
    assert found.id == number.id
    for bad in ("not-a-uuid", "", "1" * 40):
        with pytest.raises(NotFound):
            await numbers.get_number(db, tenant.org_id, bad)


async def test_release_returns_a_sandbox_number_to_the_range(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    number = await numbers.purchase_number(db, settings, tenant.org_id, "+14155551000")
    assert await numbers.release_number(db, tenant.org_id, number.id) == number.id
    first = (await inventory.search_numbers(db, page_size=1)).items[0]
    assert first.phone_number == "+14155551000"
    again = await numbers.purchase_number(db, settings, other_tenant.org_id, "+14155551000")
    assert again.id != number.id


async def test_release_of_an_imported_number_keeps_the_accounts_credential(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    number = await numbers.import_number(
        db, settings, tenant.org_id, "+15005550006", "twilio", TWILIO
    )
    await numbers.release_number(db, tenant.org_id, number.id)
    listed, total = await credentials.list_credentials(db, tenant.org_id)
    assert total == 1 and listed[0].id == number.credential_id
    with pytest.raises(NotFound):
        await numbers.release_number(db, tenant.org_id, number.id)
