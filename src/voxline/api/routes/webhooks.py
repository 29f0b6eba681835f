"""Routes for customer webhook endpoints and their delivery log (an extension of the
reference; see :mod:`voxline.api.schemas.webhooks`)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request

from voxline.api.deps import CallerDep, DbDep, SettingsDep
from voxline.api.envelope import Envelope, ListEnvelope, error_responses, ok, page
from voxline.api.params import PageLimit, PageOffset
from voxline.api.schemas.webhooks import (
    DeliveryOut,
    ReplayIn,
    ReplayOut,
    TestEventOut,
    WebhookCreate,
    WebhookDeleted,
    WebhookOut,
    WebhookUpdate,
    WebhookWithSecret,
)
from voxline.domain.webhooks import DeliveryStatus
from voxline.services import webhook_deliveries as deliveries
from voxline.services import webhooks

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks",
    status_code=201,
    response_model=Envelope[WebhookWithSecret],
    responses=error_responses(400, 422),
    summary="Create a webhook endpoint (its secret is shown once)",
)
async def create_webhook(
    request: Request, body: WebhookCreate, caller: CallerDep, db: DbDep, settings: SettingsDep
) -> Envelope[WebhookWithSecret]:
    endpoint, secret = await webhooks.create_endpoint(
        db,
        settings,
        caller.org_id,
        url=body.url,
        event_types=list(body.event_types),
        description=body.description,
    )
    shown = WebhookOut.from_endpoint(endpoint).model_dump()
    return ok(request, WebhookWithSecret(**shown, secret=secret))


@router.get(
    "/webhooks",
    response_model=ListEnvelope[WebhookOut],
    responses=error_responses(422),
    summary="List webhook endpoints, newest first",
)
async def list_webhooks(
    request: Request, caller: CallerDep, db: DbDep, limit: PageLimit = 50, offset: PageOffset = 0
) -> ListEnvelope[WebhookOut]:
    items, total = await webhooks.list_endpoints(db, caller.org_id, limit=limit, offset=offset)
    return page(request, [WebhookOut.from_endpoint(e) for e in items], total, limit, offset)


@router.get(
    "/webhooks/{webhook_id}",
    response_model=Envelope[WebhookOut],
    responses=error_responses(404),
    summary="Get a webhook endpoint",
)
async def get_webhook(
    request: Request, webhook_id: str, caller: CallerDep, db: DbDep
) -> Envelope[WebhookOut]:
    endpoint = await webhooks.get_endpoint(db, caller.org_id, webhook_id)
    return ok(request, WebhookOut.from_endpoint(endpoint))


@router.patch(
    "/webhooks/{webhook_id}",
    response_model=Envelope[WebhookOut],
    responses=error_responses(400, 404, 422),
    summary="Change a webhook endpoint (enabled=true re-enables a disabled one)",
)
async def update_webhook(
    request: Request,
    webhook_id: str,
    body: WebhookUpdate,
    caller: CallerDep,
    db: DbDep,
    settings: SettingsDep,
) -> Envelope[WebhookOut]:
    endpoint = await webhooks.update_endpoint(
        db, settings, caller.org_id, webhook_id, body.to_changes()
    )
    return ok(request, WebhookOut.from_endpoint(endpoint))


@router.delete(
    "/webhooks/{webhook_id}",
    response_model=Envelope[WebhookDeleted],
    responses=error_responses(404),
    summary="Delete a webhook endpoint and its delivery log",
)
async def delete_webhook(
    request: Request, webhook_id: str, caller: CallerDep, db: DbDep
) -> Envelope[WebhookDeleted]:
    deleted = await webhooks.delete_endpoint(db, caller.org_id, webhook_id)
    return ok(request, WebhookDeleted(id=UUID(deleted), deleted=True))


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    response_model=Envelope[WebhookWithSecret],
    responses=error_responses(404),
    summary="Rotate the signing secret (the old one signs too for the overlap, 24 h)",
)
async def rotate_webhook_secret(
    request: Request, webhook_id: str, caller: CallerDep, db: DbDep, settings: SettingsDep
) -> Envelope[WebhookWithSecret]:
    endpoint, secret, until = await webhooks.rotate_secret(db, settings, caller.org_id, webhook_id)
    shown = WebhookOut.from_endpoint(endpoint).model_dump()
    return ok(request, WebhookWithSecret(**shown, secret=secret, previous_secret_expires_at=until))


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    response_model=Envelope[TestEventOut],
    responses=error_responses(404),
    summary="Send a webhook.test event to this endpoint",
)
async def test_webhook(
    request: Request, webhook_id: str, caller: CallerDep, db: DbDep
) -> Envelope[TestEventOut]:
    event_id = await webhooks.send_test(db, caller.org_id, webhook_id)
    return ok(request, TestEventOut(event_id=UUID(event_id)))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=ListEnvelope[DeliveryOut],
    responses=error_responses(404, 422),
    summary="The endpoint's delivery log, newest first",
)
async def list_webhook_deliveries(
    request: Request,
    webhook_id: str,
    caller: CallerDep,
    db: DbDep,
    status: DeliveryStatus | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ListEnvelope[DeliveryOut]:
    items, total = await deliveries.list_deliveries(
        db, caller.org_id, webhook_id, status=status, limit=limit, offset=offset
    )
    return page(request, [DeliveryOut.from_delivery(d) for d in items], total, limit, offset)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=Envelope[DeliveryOut],
    responses=error_responses(404),
    summary="Send a delivery again (same event id)",
)
async def replay_webhook_delivery(
    request: Request, webhook_id: str, delivery_id: str, caller: CallerDep, db: DbDep
) -> Envelope[DeliveryOut]:
    delivery = await deliveries.replay_delivery(db, caller.org_id, webhook_id, delivery_id)
    return ok(request, DeliveryOut.from_delivery(delivery))


@router.post(
    "/webhooks/{webhook_id}/replay",
    status_code=202,
    response_model=Envelope[ReplayOut],
    responses=error_responses(400, 404, 422),
    summary="Send again every subscribed event since a time",
)
async def replay_webhook_events(
    request: Request, webhook_id: str, body: ReplayIn, caller: CallerDep, db: DbDep
) -> Envelope[ReplayOut]:
    queued = await deliveries.replay_since(db, caller.org_id, webhook_id, body.since)
    return ok(request, ReplayOut(queued=queued))
