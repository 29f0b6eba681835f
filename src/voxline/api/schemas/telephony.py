"""Request and response bodies of ``/telephony``.

Credential secrets arrive as ``SecretStr`` (write-only in the OpenAPI document, hidden from
reprs) and no response model has a field that could carry one back. The per-provider shape of
each credential field is checked by the service (:mod:`voxline.telephony.credentials`), which
names the offending field in its 422.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic_core import PydanticCustomError

from voxline.api.envelope import Meta
from voxline.api.schemas.text import StoredText
from voxline.domain.phone import E164_PATTERN, is_e164
from voxline.services.credentials import StoredCredential
from voxline.services.inventory import AvailableNumber, SearchResult
from voxline.services.numbers import (
    MAX_FRIENDLY_NAME,
    AgentNumbers,
    AssignmentType,
    NumberStatus,
    PhoneNumber,
)
from voxline.telephony.credentials import ProviderType
from voxline.telephony.sandbox.numbers import AREA_CODE_PATTERN


def _e164(value: str) -> str:
    if not is_e164(value):
        raise PydanticCustomError("e164", "Must be in E.164 format")
    return value


def _ascii_digits(value: str) -> str:
    # The pattern's \d, in pydantic's regex engine, also matches other scripts' digits.
    if not value.isascii():
        raise PydanticCustomError("ascii_digits", "Must be ASCII digits")
    return value


E164Number = Annotated[
    str,
    AfterValidator(_e164),
    Field(json_schema_extra={"pattern": E164_PATTERN}, examples=["+14155551234"]),
]
FriendlyName = Annotated[
    StoredText, Field(max_length=MAX_FRIENDLY_NAME, description="A label for people")
]
Identifier = Annotated[StoredText, Field(max_length=256)]
Secret = Annotated[SecretStr, Field(max_length=256)]


class ImportNumberRequest(BaseModel):
    """A number the organization already owns at a provider, with that provider's account."""

    phone_number: E164Number
    provider_type: ProviderType
    friendly_name: FriendlyName | None = None
    account_sid: Identifier | None = Field(
        default=None, description="Twilio (required): AC followed by 32 hex characters"
    )
    auth_token: Secret | None = Field(
        default=None,
        description="Twilio (required): 32 hex characters. Plivo (required): the auth token",
    )
    api_key: Secret | None = Field(
        default=None, description='Telnyx (required): the API key, starting with "KEY"'
    )
    public_key: Identifier | None = Field(
        default=None,
        description="Telnyx (optional): base64 Ed25519 public key that verifies its webhooks",
    )
    connection_id: Identifier | None = Field(
        default=None, description="Telnyx (optional): the Call Control application id"
    )
    auth_id: Identifier | None = Field(
        default=None, description="Plivo (required): MA or SA followed by 18 alphanumerics"
    )

    def credential_fields(self) -> dict[str, str | None]:
        """Every credential field, secrets revealed, for the service to check and seal."""
        secrets = {"auth_token": self.auth_token, "api_key": self.api_key}
        return {
            "account_sid": self.account_sid,
            "public_key": self.public_key,
            "connection_id": self.connection_id,
            "auth_id": self.auth_id,
            **{name: v.get_secret_value() if v else None for name, v in secrets.items()},
        }


class PurchaseNumberRequest(BaseModel):
    phone_number: E164Number
    provider_type: ProviderType = ProviderType.SANDBOX
    friendly_name: FriendlyName | None = None


class SearchNumbersRequest(BaseModel):
    country_code: str = Field(
        default="US", pattern=r"^[A-Za-z]{2}$", description="ISO 3166 alpha-2; only US for now"
    )
    area_code: Annotated[str, AfterValidator(_ascii_digits)] | None = Field(
        default=None, pattern=AREA_CODE_PATTERN, description="Default 415 on the sandbox"
    )
    locality: Annotated[StoredText, Field(max_length=100)] | None = Field(
        default=None, description="City; sandbox numbers have none, so it does not narrow"
    )
    phone_number_type: Literal["local", "toll_free", "toll-free", "mobile", "national"] = "local"
    provider_type: ProviderType = ProviderType.SANDBOX
    page: int = Field(default=1, ge=1, le=1_000_000)
    page_size: int = Field(default=20, ge=1, le=100)


class AssignNumberRequest(BaseModel):
    number_id: UUID
    agent_id: UUID
    assignment_type: AssignmentType


class UnassignNumberRequest(BaseModel):
    number_id: UUID
    assignment_type: AssignmentType


class PhoneNumberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    phone_number: str
    provider_type: ProviderType
    friendly_name: str | None
    status: NumberStatus
    is_managed: bool = Field(description="Bought through Voxline rather than imported")
    credential_id: str | None
    inbound_agent_id: str | None
    outbound_agent_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, number: PhoneNumber) -> PhoneNumberOut:
        return cls.model_validate(number)


class AgentNumbersOut(BaseModel):
    inbound: list[PhoneNumberOut]
    outbound: list[PhoneNumberOut]

    @classmethod
    def of(cls, numbers: AgentNumbers) -> AgentNumbersOut:
        return cls(
            inbound=[PhoneNumberOut.of(n) for n in numbers.inbound],
            outbound=[PhoneNumberOut.of(n) for n in numbers.outbound],
        )


class ReleasedNumberOut(BaseModel):
    id: str
    released: bool = True


class RegionOut(BaseModel):
    region_type: str
    region_name: str


class CostOut(BaseModel):
    monthly_cost: float
    currency: str


class AvailableNumberOut(BaseModel):
    phone_number: str
    provider_type: ProviderType
    phone_number_type: str
    region_information: list[RegionOut]
    features: list[str]
    cost_information: CostOut

    @classmethod
    def of(cls, item: AvailableNumber) -> AvailableNumberOut:
        return cls(
            phone_number=item.phone_number,
            provider_type=item.provider_type,
            phone_number_type=item.phone_number_type.value,
            region_information=[
                RegionOut(region_type=r.region_type, region_name=r.region_name)
                for r in item.region_information
            ],
            features=["voice"],
            cost_information=CostOut(monthly_cost=float(item.monthly_cost), currency=item.currency),
        )


class SearchPagination(BaseModel):
    page: int
    page_size: int
    total_results: int
    total_pages: int
    has_more: bool


class SearchEnvelope(BaseModel):
    data: list[AvailableNumberOut]
    pagination: SearchPagination
    meta: Meta

    @classmethod
    def of(cls, result: SearchResult, meta: Meta) -> SearchEnvelope:
        return cls(
            data=[AvailableNumberOut.of(item) for item in result.items],
            pagination=SearchPagination(
                page=result.page,
                page_size=result.page_size,
                total_results=result.total_results,
                total_pages=result.total_pages,
                has_more=result.has_more,
            ),
            meta=meta,
        )


class CredentialOut(BaseModel):
    """A provider account as clients see it; secrets are never part of it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    provider_type: ProviderType
    friendly_name: str | None
    account_identifier: str | None = Field(
        description="The account's non-secret id (Twilio account SID, Plivo auth ID, "
        "Telnyx connection id), or null"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, credential: StoredCredential) -> CredentialOut:
        return cls.model_validate(credential)
