"""Stored provider credentials: sealed at rest, reused per account, opened only for adapters."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from tests.factories import Tenant
from voxline.config import Settings
from voxline.crypto import SecretBox
from voxline.errors import NotFound, ValidationFailed
from voxline.services import credentials, numbers
from voxline.storage.db import Database
from voxline.storage.tables import telephony_credentials
from voxline.telephony.credentials import (
    PlivoCredentials,
    ProviderType,
    SandboxCredentials,
    TelnyxCredentials,
    TwilioCredentials,
)

SID = "AC" + "1" * 32
PLIVO_ID = "SA" + "B" * 18


def twilio(token: str, sid: str = SID) -> dict[str, str | None]:
    return {"account_sid": sid, "auth_token": token}


async def stored_rows(db: Database, org_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(telephony_credentials).where(
                telephony_credentials.c.organization_id == org_id
            )
        )
        return [dict(row._mapping) for row in rows]


async def test_credential_for_number_round_trips_a_twilio_token(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    token = secrets.token_hex(16)
    number = await numbers.import_number(
        db, settings, tenant.org_id, "+15005550006", "twilio", twilio(token)
    )
    found = await credentials.credential_for_number(db, settings, number.id)
    assert found.credentials == TwilioCredentials(SID, token)
    assert (found.number_id, found.organization_id) == (number.id, tenant.org_id)
    assert (found.phone_number, found.provider_type) == ("+15005550006", ProviderType.TWILIO)
    assert found.credential_id == number.credential_id


async def test_secrets_are_sealed_and_identifiers_kept_readable(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    token = secrets.token_hex(16)
    await numbers.import_number(
        db, settings, tenant.org_id, "+15005550006", "twilio", twilio(token)
    )
    [row] = await stored_rows(db, tenant.org_id)
    assert row["public_fields"] == {"account_sid": SID}
    assert token not in row["secrets_encrypted"]
    box = SecretBox(settings.resolved_secret_key())
    assert box.open(row["secrets_encrypted"]) == {"auth_token": token}
    with pytest.raises(ValueError):
        SecretBox("another deployment's key").open(row["secrets_encrypted"])


async def test_the_same_account_reuses_its_credential_and_takes_the_new_secret(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    first = await numbers.import_number(
        db, settings, tenant.org_id, "+15005550006", "twilio", twilio("a" * 32)
    )
    second = await numbers.import_number(
        db, settings, tenant.org_id, "+15005550007", "twilio", twilio("b" * 32)
    )
    assert second.credential_id == first.credential_id
    assert len(await stored_rows(db, tenant.org_id)) == 1
    reopened = await credentials.credential_for_number(db, settings, first.id)
    assert reopened.credentials == TwilioCredentials(SID, "b" * 32)


async def test_another_account_or_organization_gets_its_own_credential(
    db: Database, settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = await numbers.import_number(
        db, settings, tenant.org_id, "+15005550006", "twilio", twilio("a" * 32)
    )
    other_account = await numbers.import_number(
        db, settings, tenant.org_id, "+15005550007", "twilio", twilio("b" * 32, "AC" + "2" * 32)
    )
    other_org = await numbers.import_number(
        db, settings, other_tenant.org_id, "+15005550008", "twilio", twilio("c" * 32)
    )
    assert len({first.credential_id, other_account.credential_id, other_org.credential_id}) == 3
    mine, _ = await credentials.list_credentials(db, tenant.org_id)
    assert {c.account_identifier for c in mine} == {SID, "AC" + "2" * 32}
    assert (await credentials.credential_for_number(db, settings, first.id)).credentials == (
        TwilioCredentials(SID, "a" * 32)
    )


async def test_telnyx_and_plivo_credentials_round_trip(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    telnyx = await numbers.import_number(
        db,
        settings,
        tenant.org_id,
        "+15005550010",
        "telnyx",
        {"api_key": "KEY_telnyx_secret", "connection_id": "42"},
    )
    plivo = await numbers.import_number(
        db,
        settings,
        tenant.org_id,
        "+15005550011",
        "plivo",
        {"auth_id": PLIVO_ID, "auth_token": "plivo-secret"},
    )
    telnyx_found = await credentials.credential_for_number(db, settings, telnyx.id)
    plivo_found = await credentials.credential_for_number(db, settings, plivo.id)
    assert telnyx_found.credentials == TelnyxCredentials("KEY_telnyx_secret", None, "42")
    assert plivo_found.credentials == PlivoCredentials(PLIVO_ID, "plivo-secret")


async def test_sandbox_numbers_need_no_stored_credential(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    number = await numbers.purchase_number(db, settings, tenant.org_id, "+14155551000")
    found = await credentials.credential_for_number(db, settings, number.id)
    assert found.credentials == SandboxCredentials()
    assert found.credential_id is None
    assert await stored_rows(db, tenant.org_id) == []


async def test_credential_for_an_unknown_number_is_not_found(
    db: Database, settings: Settings
) -> None:
    with pytest.raises(NotFound):
        await credentials.credential_for_number(
            db, settings, "00000000-0000-4000-8000-000000000000"
        )


async def test_a_provider_number_without_its_credential_is_not_configured(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    number = await numbers.import_number(
        db, settings, tenant.org_id, "+15005550006", "twilio", twilio("a" * 32)
    )
    async with db.write() as conn:
        await conn.execute(telephony_credentials.delete())
    with pytest.raises(ValidationFailed) as caught:
        await credentials.credential_for_number(db, settings, number.id)
    assert "not configured" in caught.value.details["reason"]


async def test_list_credentials_pages_newest_first(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    for i in range(3):
        await numbers.import_number(
            db,
            settings,
            tenant.org_id,
            f"+1500555001{i}",
            "twilio",
            twilio("a" * 32, f"AC{i}{'0' * 31}"),
        )
    page, total = await credentials.list_credentials(db, tenant.org_id, limit=2, offset=0)
    rest, _ = await credentials.list_credentials(db, tenant.org_id, limit=2, offset=2)
    assert total == 3
    assert [c.account_identifier for c in page + rest] == [f"AC{i}{'0' * 31}" for i in (2, 1, 0)]
    assert all(c.friendly_name == "Twilio account" for c in page)


async def _telnyx(
    db: Database, settings: Settings, org_id: str, number: str, **fields: str
) -> str | None:
    imported = await numbers.import_number(db, settings, org_id, number, "telnyx", dict(fields))
    return imported.credential_id


async def test_two_telnyx_accounts_without_a_connection_id_never_share_a_credential(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    first = await _telnyx(db, settings, tenant.org_id, "+15005550006", api_key="KEY_first")
    second = await _telnyx(db, settings, tenant.org_id, "+15005550007", api_key="KEY_second")
    assert first != second
    for number, key in (("+15005550006", "KEY_first"), ("+15005550007", "KEY_second")):
        [found] = [
            await credentials.credential_for_number(db, settings, n.id)
            for n in (await numbers.list_numbers(db, tenant.org_id))[0]
            if n.phone_number == number
        ]
        assert found.credentials == TelnyxCredentials(key, None, None)


async def test_another_number_of_the_same_telnyx_account_reuses_its_credential(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    first = await _telnyx(db, settings, tenant.org_id, "+15005550006", api_key="KEY_same")
    second = await _telnyx(db, settings, tenant.org_id, "+15005550007", api_key="KEY_same")
    assert first == second
    with_connection = await _telnyx(
        db, settings, tenant.org_id, "+15005550008", api_key="KEY_same", connection_id="42"
    )
    again = await _telnyx(
        db, settings, tenant.org_id, "+15005550009", api_key="KEY_same", connection_id="42"
    )
    other_account = await _telnyx(
        db, settings, tenant.org_id, "+15005550010", api_key="KEY_other", connection_id="42"
    )
    assert with_connection == again
    assert len({first, with_connection, other_account}) == 3


async def test_the_telnyx_reuse_key_holds_no_api_key(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    await _telnyx(db, settings, tenant.org_id, "+15005550006", api_key="KEY_secret_value")
    [row] = await stored_rows(db, tenant.org_id)
    assert "KEY_secret_value" not in str(row["public_fields"])
    assert "secret_value" not in str(row["public_fields"])


async def test_a_telnyx_credential_stored_before_fingerprints_is_still_reused(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    first = await _telnyx(db, settings, tenant.org_id, "+15005550006", api_key="KEY_old")
    async with db.write() as conn:
        await conn.execute(telephony_credentials.update().values(public_fields={}))
    other = await _telnyx(db, settings, tenant.org_id, "+15005550007", api_key="KEY_new")
    again = await _telnyx(db, settings, tenant.org_id, "+15005550008", api_key="KEY_old")
    assert again == first != other
    rows = {row["id"]: row["public_fields"] for row in await stored_rows(db, tenant.org_id)}
    assert set(rows[first]) == {credentials.FINGERPRINT_FIELD}
