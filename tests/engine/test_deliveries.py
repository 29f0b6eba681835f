"""Webhook deliveries end to end: sandbox calls in text mode, the engine's delivery loop and a
real receiver on a loopback port that verifies every delivery (Standard Webhooks and the
Truedy scheme)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from tests.conftest import API
from tests.emulators.webhook_receiver import WebhookReceiver
from tests.engine.conftest import TIME_SCALE, Phone
from voxline.config import Settings
from voxline.domain.webhooks import EventType
from voxline.engine.deliveries import Deliverer
from voxline.engine.wakeup import Wakeups
from voxline.storage.db import Database
from voxline.storage.tables import events, webhook_deliveries

ALL = ["call.queued", "call.ringing", "call.started", "call.ended", "call.analyzed"]


@pytest.fixture
def engine_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sandbox_time_scale": TIME_SCALE,
            "engine_poll_seconds": 0.1,
            "engine_drain_seconds": 0.5,
            "placement_backoff_seconds": 0.05,
            "webhooks_retry_base_seconds": 0.05,
            "webhooks_retry_max_seconds": 0.3,
            "webhooks_max_attempts": 50,
        }
    )


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hooks = WebhookReceiver()
    await hooks.start()
    yield hooks
    await hooks.stop()


async def subscribe(
    phone: Phone, receiver: WebhookReceiver, types: list[str] | None = None
) -> dict[str, Any]:
    response = await phone.client.post(
        f"{API}/webhooks",
        json={"url": receiver.url, "event_types": types or ALL},
        headers=phone.tenant.headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    receiver.secrets.append(data["secret"])
    return data


def of_call(receiver: WebhookReceiver, call_id: str) -> list[dict[str, Any]]:
    return [b for b in receiver.events() if b["data"].get("call", {}).get("id") == call_id]


async def test_every_outcome_delivers_exactly_one_signed_call_ended(
    phone: Phone, receiver: WebhookReceiver, db: Database
) -> None:
    await subscribe(phone, receiver)
    numbers = {
        "+14155550100": "completed",
        "+14155550101": "busy",
        "+14155550102": "no_answer",
        "+14155550103": "voicemail",
        "+14155550104": "failed",  # refused while POST /calls is served: 502
        "+14155550105": "completed",
    }
    ids: dict[str, str] = {}
    for number in numbers:
        response = await phone.call(number, call_settings={"join_timeout": "20s"})
        body = response.json()
        ids[number] = (
            body["data"]["id"]
            if response.status_code == 201
            else body["error"]["details"]["call_id"]
        )
    await receiver.wait_for(
        lambda: all(
            any(e["event"] == "call.analyzed" for e in of_call(receiver, i)) for i in ids.values()
        ),
        within=60,
    )
    await asyncio.sleep(0.5)  # anything duplicated would arrive now
    assert receiver.refused == []
    for number, call_id in ids.items():
        got = of_call(receiver, call_id)
        kinds = [e["event"] for e in sorted(got, key=lambda e: e["data"]["seq"])]
        assert Counter(kinds)["call.ended"] == 1, (number, kinds)
        assert kinds[0] == "call.queued" and kinds[-2:] == ["call.ended", "call.analyzed"]
        assert [e["data"]["seq"] for e in sorted(got, key=lambda e: e["data"]["seq"])] == list(
            range(1, len(got) + 1)
        )
        ended = next(e for e in got if e["event"] == "call.ended")
        call = ended["data"]["call"]
        assert call["status"] == numbers[number]
        assert call["callId"] == call_id and call["agent"]["agentId"] == phone.agent_id
        assert ended["id"] == ended["data"]["id"] and ended["timestamp"].endswith("Z")
        assert call["summary"] and call["cost_usd"] is not None
        assert call["duration_seconds"] is not None
    assert len({b["id"] for b in receiver.events()}) == len(receiver.received)
    async with db.read() as conn:
        ended_rows = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(events).where(events.c.type == "call.ended")
            )
        ).scalar_one()
    assert ended_rows == len(numbers)


async def test_a_receiver_down_for_a_while_gets_every_event_later_with_the_same_ids(
    phone: Phone, receiver: WebhookReceiver, db: Database
) -> None:
    await subscribe(phone, receiver)
    receiver.answer = 503
    call_id = (await phone.call("+14155550100")).json()["data"]["id"]
    await phone.wait_finished(call_id)
    await receiver.wait_for(lambda: receiver.hits >= 10)
    assert receiver.received == []
    receiver.answer = 204
    await receiver.wait_for(
        lambda: any(e["event"] == "call.analyzed" for e in of_call(receiver, call_id))
    )
    async with db.read() as conn:
        stored = set(
            # Timeline entries (tool calls, barge-ins) are events no endpoint subscribes to.
            (
                await conn.execute(
                    sa.select(events.c.id).where(
                        events.c.call_id == call_id,
                        events.c.type.in_([t.value for t in EventType]),
                    )
                )
            )
            .scalars()
            .all()
        )
        attempts = (await conn.execute(sa.select(webhook_deliveries.c.attempts))).scalars().all()
    # Each event is retried on its own schedule (up to webhooks_retry_max_seconds, +20 %
    # jitter, after the receiver is back): wait until every one has come, then a little
    # more, so that an extra or repeated id would show.
    await receiver.wait_for(
        lambda: {e["id"] for e in of_call(receiver, call_id)} >= stored, within=10
    )
    await asyncio.sleep(0.3)
    assert {e["id"] for e in of_call(receiver, call_id)} == stored
    assert max(attempts) > 1
    assert all(r.headers["webhook-id"] == r.body["id"] for r in receiver.received)


async def test_during_a_rotation_both_secrets_verify(
    phone: Phone, receiver: WebhookReceiver
) -> None:
    created = await subscribe(phone, receiver)
    rotated = await phone.client.post(
        f"{API}/webhooks/{created['id']}/rotate-secret", headers=phone.tenant.headers
    )
    new_secret = rotated.json()["data"]["secret"]
    receiver.secrets.append(new_secret)
    await phone.client.post(f"{API}/webhooks/{created['id']}/test", headers=phone.tenant.headers)
    await receiver.wait_for(lambda: len(receiver.events("webhook.test")) == 1)
    delivered = receiver.received[-1]
    assert len(delivered.headers["webhook-signature"].split(" ")) == 2
    for secret in (created["secret"], new_secret):
        assert Webhook(secret).verify(delivered.raw, delivered.headers) is not None
        only = WebhookReceiver(secrets=[secret])
        assert only.verify(delivered.headers, delivered.raw)


async def test_410_gone_disables_the_endpoint(phone: Phone, receiver: WebhookReceiver) -> None:
    created = await subscribe(phone, receiver)
    receiver.answer = 410
    base = f"{API}/webhooks/{created['id']}"
    await phone.client.post(f"{base}/test", headers=phone.tenant.headers)
    await receiver.wait_for(lambda: receiver.hits == 1)

    async def endpoint() -> dict[str, Any]:
        data: dict[str, Any] = (await phone.client.get(base, headers=phone.tenant.headers)).json()[
            "data"
        ]
        return data

    for _ in range(100):
        if not (await endpoint())["enabled"]:
            break
        await asyncio.sleep(0.05)
    shown = await endpoint()
    assert shown["enabled"] is False and shown["disabled_reason"] == "gone"
    log = (await phone.client.get(f"{base}/deliveries", headers=phone.tenant.headers)).json()
    assert log["data"][0]["status"] == "failed" and log["data"][0]["last_status_code"] == 410
    await phone.client.post(f"{base}/test", headers=phone.tenant.headers)
    await asyncio.sleep(0.5)
    assert receiver.hits == 1  # a disabled endpoint receives nothing


async def test_the_delivery_log_and_replays_resend_the_same_event(
    phone: Phone, receiver: WebhookReceiver, other_tenant: Any
) -> None:
    created = await subscribe(phone, receiver)
    base = f"{API}/webhooks/{created['id']}"
    headers = phone.tenant.headers
    tested = (await phone.client.post(f"{base}/test", headers=headers)).json()["data"]
    await receiver.wait_for(lambda: len(receiver.received) == 1)
    for _ in range(100):
        log = (
            await phone.client.get(f"{base}/deliveries?status=delivered", headers=headers)
        ).json()
        if log["data"]:
            break
        await asyncio.sleep(0.05)
    delivery = log["data"][0]
    assert delivery["event_id"] == tested["event_id"] and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 204 and delivery["next_attempt_at"] is None
    pending = await phone.client.get(f"{base}/deliveries?status=pending", headers=headers)
    assert pending.json()["pagination"]["total"] == 0
    foreign = await phone.client.post(
        f"{base}/deliveries/{delivery['id']}/replay", headers=other_tenant.headers
    )
    assert foreign.status_code == 404
    replayed = await phone.client.post(
        f"{base}/deliveries/{delivery['id']}/replay", headers=headers
    )
    assert replayed.status_code == 202
    await receiver.wait_for(lambda: len(receiver.received) == 2)
    since = await phone.client.post(
        f"{base}/replay", json={"since": "2000-01-01T00:00:00Z"}, headers=headers
    )
    assert since.status_code == 202
    call_id = (await phone.call("+14155550101")).json()["data"]["id"]
    await receiver.wait_for(lambda: len(of_call(receiver, call_id)) >= 3)
    assert {r.body["id"] for r in receiver.received if r.body["event"] == "webhook.test"} == {
        tested["event_id"]
    }


async def test_deliveries_check_the_url_again_when_sending(
    db: Database, settings: Settings, client: httpx.AsyncClient, tenant: Any
) -> None:
    """An endpoint saved while private networks were allowed is refused at delivery time
    once they are not (what a name resolves to may change between the two)."""
    created = await client.post(
        f"{API}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["call.ended"]},
        headers=tenant.headers,
    )
    webhook_id = created.json()["data"]["id"]
    await client.post(f"{API}/webhooks/{webhook_id}/test", headers=tenant.headers)
    strict = settings.model_copy(
        update={"webhooks_allow_private_networks": False, "engine_poll_seconds": 0.05}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(Deliverer(db, strict, Wakeups(), "strict-worker").run(stop))
    try:
        for _ in range(200):
            log = (
                await client.get(f"{API}/webhooks/{webhook_id}/deliveries", headers=tenant.headers)
            ).json()["data"]
            if log[0]["attempts"]:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    assert log[0]["last_error"].startswith("refused: url"), log
    assert log[0]["last_status_code"] is None and log[0]["status"] == "pending"


async def test_transport_seam_needs_no_network(db: Database, settings: Settings) -> None:
    """The deliverer takes an httpx transport (tests without a receiver use it)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    deliverer = Deliverer(db, settings, Wakeups(), "w", transport=httpx.MockTransport(handler))
    stop = asyncio.Event()
    stop.set()
    await deliverer.run(stop)
    assert seen == []
