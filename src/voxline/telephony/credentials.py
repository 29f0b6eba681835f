"""The credential shapes of each telephony provider.

A provider's credential is a few named fields. Some are secrets (sealed at rest, never shown,
never logged), the others are identifiers kept readable (``public_fields``). One of those
identifiers, when present, names the provider account; an organization holds one stored
credential per provider and account.

| provider | identifier      | secret      | other public fields          |
|----------|-----------------|-------------|------------------------------|
| twilio   | ``account_sid`` | auth_token  | —                            |
| telnyx   | ``connection_id`` (optional) | api_key | ``public_key`` (optional) |
| plivo    | ``auth_id``     | auth_token  | —                            |
| sandbox  | —               | —           | —                            |

:func:`parse_credentials` checks what a client sent; :func:`load_credentials` rebuilds the
typed credential an adapter uses from what was stored.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from voxline.errors import ValidationFailed


class ProviderType(StrEnum):
    TWILIO = "twilio"
    TELNYX = "telnyx"
    PLIVO = "plivo"
    SANDBOX = "sandbox"

    @property
    def label(self) -> str:
        return self.value.capitalize()


def parse_provider(value: ProviderType | str) -> ProviderType:
    """``value`` as a provider type; :class:`ValidationFailed` on ``provider_type`` if unknown."""
    try:
        return ProviderType(value)
    except ValueError:
        allowed = ", ".join(p.value for p in ProviderType)
        raise ValidationFailed.field("provider_type", f"must be one of {allowed}") from None


def _matches(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda value: bool(compiled.fullmatch(value))


def _is_ed25519_public_key(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One credential field: whether it is secret or required, and its accepted shape."""

    name: str
    secret: bool
    required: bool
    is_valid: Callable[[str], bool]
    shape: str


# Tokens whose exact format the providers do not publish: any printable run without spaces.
_OPAQUE = _matches(r"[\x21-\x7e]{1,256}")

FIELDS: Mapping[ProviderType, tuple[FieldSpec, ...]] = {
    ProviderType.TWILIO: (
        FieldSpec(
            "account_sid", False, True, _matches(r"AC[0-9a-fA-F]{32}"), "AC followed by 32 hex"
        ),
        FieldSpec("auth_token", True, True, _matches(r"[0-9a-fA-F]{32}"), "32 hex characters"),
    ),
    ProviderType.TELNYX: (
        FieldSpec(
            "api_key", True, True, _matches(r"KEY[\x21-\x7e]{1,253}"), 'a key starting with "KEY"'
        ),
        FieldSpec(
            "public_key",
            False,
            False,
            _is_ed25519_public_key,
            "base64 of a 32-byte Ed25519 public key",
        ),
        FieldSpec(
            "connection_id",
            False,
            False,
            _matches(r"[A-Za-z0-9_.:-]{1,100}"),
            "1 to 100 letters, digits or _.:-",
        ),
    ),
    ProviderType.PLIVO: (
        FieldSpec(
            "auth_id",
            False,
            True,
            _matches(r"(MA|SA)[A-Za-z0-9]{18}"),
            "MA or SA + 18 alphanumerics",
        ),
        FieldSpec("auth_token", True, True, _OPAQUE, "1 to 256 printable characters, no spaces"),
    ),
    ProviderType.SANDBOX: (),
}

IDENTIFIER_FIELD: Mapping[ProviderType, str | None] = {
    ProviderType.TWILIO: "account_sid",
    ProviderType.TELNYX: "connection_id",
    ProviderType.PLIVO: "auth_id",
    ProviderType.SANDBOX: None,
}

CREDENTIAL_FIELDS: frozenset[str] = frozenset(
    spec.name for specs in FIELDS.values() for spec in specs
)


@dataclass(frozen=True, slots=True)
class CredentialInput:
    """Checked credential fields, split into what may be shown and what must be sealed."""

    provider_type: ProviderType
    public: dict[str, str]
    secrets: dict[str, str] = field(repr=False)

    @property
    def account_identifier(self) -> str | None:
        name = IDENTIFIER_FIELD[self.provider_type]
        return self.public.get(name) if name else None


def parse_credentials(
    provider_type: ProviderType, values: Mapping[str, str | None]
) -> CredentialInput:
    """Check the credential fields sent for ``provider_type``.

    ``values`` holds every credential field the client could send (``None`` when absent).
    Raises :class:`ValidationFailed` naming the first field that is missing, malformed or
    not used by this provider. Error reasons never contain the value itself.
    """
    specs = {spec.name: spec for spec in FIELDS[provider_type]}
    for name in sorted(values):
        if values[name] is not None and name not in specs:
            raise ValidationFailed.field(name, f"not used by provider {provider_type.value}")
    public: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for spec in specs.values():
        value = values.get(spec.name)
        if value is None or value == "":
            if spec.required:
                raise ValidationFailed.field(
                    spec.name, f"required for provider {provider_type.value}"
                )
            continue
        if not spec.is_valid(value):
            raise ValidationFailed.field(spec.name, f"must be {spec.shape}")
        (secrets if spec.secret else public)[spec.name] = value
    return CredentialInput(provider_type, public, secrets)


@dataclass(frozen=True, slots=True)
class TwilioCredentials:
    account_sid: str
    auth_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TelnyxCredentials:
    api_key: str = field(repr=False)
    public_key: str | None = None
    connection_id: str | None = None


@dataclass(frozen=True, slots=True)
class PlivoCredentials:
    auth_id: str
    auth_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class SandboxCredentials:
    """The sandbox carrier needs no account."""


ProviderCredentials = TwilioCredentials | TelnyxCredentials | PlivoCredentials | SandboxCredentials


def load_credentials(
    provider_type: ProviderType, public: Mapping[str, str], secrets: Mapping[str, str]
) -> ProviderCredentials:
    """The typed credential of ``provider_type`` from its stored public and secret fields."""
    try:
        if provider_type is ProviderType.TWILIO:
            return TwilioCredentials(public["account_sid"], secrets["auth_token"])
        if provider_type is ProviderType.TELNYX:
            return TelnyxCredentials(
                secrets["api_key"], public.get("public_key"), public.get("connection_id")
            )
        if provider_type is ProviderType.PLIVO:
            return PlivoCredentials(public["auth_id"], secrets["auth_token"])
    except KeyError as exc:
        # The key name only, never a value: the mapping may hold secrets.
        raise ValueError(f"stored {provider_type.value} credential lacks {exc.args[0]}") from None
    return SandboxCredentials()
