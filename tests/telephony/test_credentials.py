"""Credential shapes per provider: what is accepted, what is secret, what is named in errors."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from voxline.errors import ValidationFailed
from voxline.telephony.credentials import (
    CREDENTIAL_FIELDS,
    PlivoCredentials,
    ProviderType,
    SandboxCredentials,
    TelnyxCredentials,
    TwilioCredentials,
    load_credentials,
    parse_credentials,
    parse_provider,
)

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "fedcba9876543210" * 2
PLIVO_ID = "MA" + "ABCDEFGHIJ01234567"
PUBLIC_KEY = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


def fields(**given: str) -> dict[str, str | None]:
    """Every credential field, absent unless given (as the API hands them over)."""
    return {name: given.get(name) for name in CREDENTIAL_FIELDS}


def reason_for(provider: ProviderType, **given: str) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_credentials(provider, fields(**given))
    return caught.value.details["field"], caught.value.details["reason"]


def test_twilio_splits_the_account_sid_from_the_secret_token() -> None:
    parsed = parse_credentials(
        ProviderType.TWILIO, fields(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    )
    assert parsed.public == {"account_sid": TWILIO_SID}
    assert parsed.secrets == {"auth_token": TWILIO_TOKEN}
    assert parsed.account_identifier == TWILIO_SID


def test_telnyx_keeps_the_api_key_secret_and_the_rest_public() -> None:
    parsed = parse_credentials(
        ProviderType.TELNYX,
        fields(api_key="KEY0123_abc", public_key=PUBLIC_KEY, connection_id="1494404757140276705"),
    )
    assert parsed.secrets == {"api_key": "KEY0123_abc"}
    assert parsed.public == {"public_key": PUBLIC_KEY, "connection_id": "1494404757140276705"}
    assert parsed.account_identifier == "1494404757140276705"


def test_telnyx_needs_only_the_api_key() -> None:
    parsed = parse_credentials(ProviderType.TELNYX, fields(api_key="KEYabc"))
    assert parsed.public == {}
    assert parsed.account_identifier is None


def test_plivo_splits_the_auth_id_from_the_secret_token() -> None:
    parsed = parse_credentials(ProviderType.PLIVO, fields(auth_id=PLIVO_ID, auth_token="MY_TOKEN"))
    assert parsed.public == {"auth_id": PLIVO_ID}
    assert parsed.secrets == {"auth_token": "MY_TOKEN"}


def test_sandbox_needs_nothing() -> None:
    parsed = parse_credentials(ProviderType.SANDBOX, fields())
    assert (parsed.public, parsed.secrets, parsed.account_identifier) == ({}, {}, None)


@pytest.mark.parametrize(
    ("provider", "given", "field"),
    [
        (ProviderType.TWILIO, {"auth_token": TWILIO_TOKEN}, "account_sid"),
        (ProviderType.TWILIO, {"account_sid": TWILIO_SID}, "auth_token"),
        (ProviderType.TWILIO, {"account_sid": TWILIO_SID, "auth_token": ""}, "auth_token"),
        (ProviderType.TELNYX, {"connection_id": "123"}, "api_key"),
        (ProviderType.PLIVO, {"auth_token": "x"}, "auth_id"),
        (ProviderType.PLIVO, {"auth_id": PLIVO_ID}, "auth_token"),
    ],
)
def test_missing_required_fields_are_named(
    provider: ProviderType, given: dict[str, str], field: str
) -> None:
    assert reason_for(provider, **given) == (field, f"required for provider {provider.value}")


@pytest.mark.parametrize(
    ("provider", "given", "field"),
    [
        (ProviderType.TWILIO, {"account_sid": "AC123", "auth_token": TWILIO_TOKEN}, "account_sid"),
        (
            ProviderType.TWILIO,
            {"account_sid": "XX" + TWILIO_SID[2:], "auth_token": TWILIO_TOKEN},
            "account_sid",
        ),
        (ProviderType.TWILIO, {"account_sid": TWILIO_SID, "auth_token": "z" * 32}, "auth_token"),
        (
            ProviderType.TWILIO,
            {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN + "0"},
            "auth_token",
        ),
        (ProviderType.TELNYX, {"api_key": "sk_live_123"}, "api_key"),
        (ProviderType.TELNYX, {"api_key": "KEY"}, "api_key"),
        (ProviderType.TELNYX, {"api_key": "KEYabc", "public_key": "not base64!"}, "public_key"),
        (
            ProviderType.TELNYX,
            {"api_key": "KEYabc", "public_key": base64.b64encode(b"short").decode()},
            "public_key",
        ),
        (ProviderType.TELNYX, {"api_key": "KEYabc", "connection_id": "has space"}, "connection_id"),
        (ProviderType.PLIVO, {"auth_id": "XA" + PLIVO_ID[2:], "auth_token": "t"}, "auth_id"),
        (ProviderType.PLIVO, {"auth_id": PLIVO_ID + "9", "auth_token": "t"}, "auth_id"),
        (ProviderType.PLIVO, {"auth_id": PLIVO_ID, "auth_token": "has space"}, "auth_token"),
        (ProviderType.PLIVO, {"auth_id": PLIVO_ID, "auth_token": "nul\x00"}, "auth_token"),
    ],
)
def test_malformed_fields_are_named(
    provider: ProviderType, given: dict[str, str], field: str
) -> None:
    named, reason = reason_for(provider, **given)
    assert named == field
    assert reason.startswith("must be ")


def test_a_malformed_secret_is_not_echoed() -> None:
    secret = "sk_live_0123456789abcdef"
    with pytest.raises(ValidationFailed) as caught:
        parse_credentials(ProviderType.TELNYX, fields(api_key=secret))
    assert secret not in str(caught.value.message) + repr(caught.value.details)


@pytest.mark.parametrize(
    ("provider", "given", "field"),
    [
        (
            ProviderType.TWILIO,
            {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "api_key": "KEYx"},
            "api_key",
        ),
        (ProviderType.SANDBOX, {"account_sid": TWILIO_SID}, "account_sid"),
        (ProviderType.TELNYX, {"api_key": "KEYx", "auth_id": PLIVO_ID}, "auth_id"),
    ],
)
def test_fields_of_another_provider_are_refused(
    provider: ProviderType, given: dict[str, str], field: str
) -> None:
    assert reason_for(provider, **given) == (field, f"not used by provider {provider.value}")


def test_parse_provider_names_the_field() -> None:
    assert parse_provider("plivo") is ProviderType.PLIVO
    with pytest.raises(ValidationFailed) as caught:
        parse_provider("custom_sip")
    assert caught.value.details["field"] == "provider_type"


def test_load_credentials_builds_each_providers_shape() -> None:
    assert load_credentials(
        ProviderType.TWILIO, {"account_sid": TWILIO_SID}, {"auth_token": TWILIO_TOKEN}
    ) == TwilioCredentials(TWILIO_SID, TWILIO_TOKEN)
    assert load_credentials(
        ProviderType.TELNYX, {"public_key": PUBLIC_KEY}, {"api_key": "KEYx"}
    ) == TelnyxCredentials("KEYx", PUBLIC_KEY, None)
    assert load_credentials(
        ProviderType.PLIVO, {"auth_id": PLIVO_ID}, {"auth_token": "tok"}
    ) == PlivoCredentials(PLIVO_ID, "tok")
    assert load_credentials(ProviderType.SANDBOX, {}, {}) == SandboxCredentials()


def test_load_credentials_reports_a_missing_field_without_its_values() -> None:
    with pytest.raises(ValueError, match="lacks auth_token") as caught:
        load_credentials(ProviderType.TWILIO, {"account_sid": TWILIO_SID}, {"other": "s3cret"})
    assert "s3cret" not in str(caught.value)


def test_secrets_stay_out_of_reprs() -> None:
    parsed = parse_credentials(
        ProviderType.TWILIO, fields(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN)
    )
    typed = load_credentials(ProviderType.TWILIO, parsed.public, parsed.secrets)
    telnyx = TelnyxCredentials("KEYsecret", None, None)
    assert TWILIO_TOKEN not in repr(parsed)
    assert TWILIO_TOKEN not in repr(typed)
    assert "KEYsecret" not in repr(telnyx)
