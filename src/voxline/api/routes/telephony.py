"""Routes for telephony: phone numbers, their assignment to agents, provider credentials."""

from __future__ import annotations

from fastapi import APIRouter, Request

from voxline.api.deps import CallerDep, DbDep, SettingsDep
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, meta_for, ok, page
from voxline.api.params import PageLimit, PageOffset
from voxline.api.schemas.telephony import (
    AgentNumbersOut,
    AssignNumberRequest,
    CredentialOut,
    ImportNumberRequest,
    PhoneNumberOut,
    PurchaseNumberRequest,
    ReleasedNumberOut,
    SearchEnvelope,
    SearchNumbersRequest,
    UnassignNumberRequest,
)
from voxline.services import credentials, inventory, numbers

router = APIRouter(prefix="/telephony", tags=["telephony"])


@router.get(
    "/numbers",
    response_model=ListEnvelope[PhoneNumberOut],
    responses=error_responses(422),
    summary="List the organization's phone numbers, newest first",
)
async def list_numbers(
    request: Request, caller: CallerDep, db: DbDep, limit: PageLimit = 50, offset: PageOffset = 0
) -> ListEnvelope[PhoneNumberOut]:
    items, total = await numbers.list_numbers(db, caller.org_id, limit=limit, offset=offset)
    return page(request, [PhoneNumberOut.of(n) for n in items], total, limit, offset)


@router.post(
    "/numbers/search",
    response_model=SearchEnvelope,
    responses=error_responses(400, 422),
    summary="Search numbers for sale (sandbox carrier only for now)",
)
async def search_numbers(
    body: SearchNumbersRequest, request: Request, caller: CallerDep, db: DbDep
) -> SearchEnvelope:
    result = await inventory.search_numbers(
        db,
        country_code=body.country_code,
        area_code=body.area_code,
        locality=body.locality,
        phone_number_type=body.phone_number_type,
        provider_type=body.provider_type,
        page=body.page,
        page_size=body.page_size,
    )
    return SearchEnvelope.of(result, meta_for(request))


@router.post(
    "/numbers/purchase",
    status_code=201,
    response_model=Envelope[PhoneNumberOut],
    responses=error_responses(400, 409, 422),
    summary="Buy a number (sandbox carrier only for now)",
)
async def purchase_number(
    body: PurchaseNumberRequest,
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
) -> Envelope[PhoneNumberOut]:
    number = await numbers.purchase_number(
        db,
        settings,
        caller.org_id,
        body.phone_number,
        body.provider_type,
        friendly_name=body.friendly_name,
    )
    return ok(request, PhoneNumberOut.of(number))


@router.post(
    "/numbers/import",
    status_code=201,
    response_model=Envelope[PhoneNumberOut],
    responses=error_responses(400, 409, 422),
    summary="Import a number owned at a provider, with that provider's credentials",
)
async def import_number(
    body: ImportNumberRequest,
    request: Request,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
) -> Envelope[PhoneNumberOut]:
    number = await numbers.import_number(
        db,
        settings,
        caller.org_id,
        body.phone_number,
        body.provider_type,
        body.credential_fields(),
        friendly_name=body.friendly_name,
    )
    return ok(request, PhoneNumberOut.of(number))


@router.post(
    "/numbers/assign",
    response_model=Envelope[PhoneNumberOut],
    responses=error_responses(400, 404, 422),
    summary="Assign a number to an agent for inbound or outbound calls",
)
async def assign_number(
    body: AssignNumberRequest, request: Request, caller: CallerDep, db: DbDep
) -> Envelope[PhoneNumberOut]:
    number = await numbers.assign_number(
        db, caller.org_id, str(body.number_id), str(body.agent_id), body.assignment_type
    )
    return ok(request, PhoneNumberOut.of(number))


@router.post(
    "/numbers/unassign",
    response_model=Envelope[PhoneNumberOut],
    responses=error_responses(400, 404, 422),
    summary="Take a number away from its agent for one direction",
)
async def unassign_number(
    body: UnassignNumberRequest, request: Request, caller: CallerDep, db: DbDep
) -> Envelope[PhoneNumberOut]:
    number = await numbers.unassign_number(
        db, caller.org_id, str(body.number_id), body.assignment_type
    )
    return ok(request, PhoneNumberOut.of(number))


@router.delete(
    "/numbers/{number_id}",
    response_model=Envelope[ReleasedNumberOut],
    responses=error_responses(404),
    summary="Release a number (sandbox numbers go back to the carrier)",
)
async def release_number(
    number_id: str, request: Request, caller: CallerDep, db: DbDep
) -> Envelope[ReleasedNumberOut]:
    released = await numbers.release_number(db, caller.org_id, number_id)
    return ok(request, ReleasedNumberOut(id=released))


@router.get(
    "/agents/{agent_id}/numbers",
    response_model=Envelope[AgentNumbersOut],
    responses=error_responses(404),
    summary="The numbers assigned to an agent, per direction",
)
async def agent_numbers(
    agent_id: str, request: Request, caller: CallerDep, db: DbDep
) -> Envelope[AgentNumbersOut]:
    assigned = await numbers.agent_numbers(db, caller.org_id, agent_id)
    return ok(request, AgentNumbersOut.of(assigned))


@router.get(
    "/credentials",
    response_model=ListEnvelope[CredentialOut],
    responses=error_responses(422),
    summary="List the organization's provider credentials (never their secrets)",
)
async def list_credentials(
    request: Request, caller: CallerDep, db: DbDep, limit: PageLimit = 50, offset: PageOffset = 0
) -> ListEnvelope[CredentialOut]:
    items, total = await credentials.list_credentials(db, caller.org_id, limit=limit, offset=offset)
    return page(request, [CredentialOut.of(c) for c in items], total, limit, offset)
