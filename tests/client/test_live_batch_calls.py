"""The SDK's batch calls against a live server (no engine: the batch is only scheduled)."""

from __future__ import annotations

import pytest

from tests.client.conftest import LiveApi
from voxline.client import AsyncVoxline, Conflict, NotFound, ValidationError, Voxline


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_batch_through_the_sdk(live: LiveApi) -> None:
    contacts = [{"phone_number": "+14155550100"}, {"phone_number": "+12125550100"}]
    with Voxline(live.base_url, live.tenant.api_key, timeout=10) as vx:
        batch = vx.batch_calls.create(
            "Spring", live.agent_id, contacts=contacts, retry_policy={"busy": {"max": 1}}
        )
        assert (batch.status, batch.total_contacts, batch.pending) == ("draft", 2, 2)
        assert vx.batch_calls.get(batch.id).id == batch.id
        assert vx.batch_calls.update(batch.id, name="Summer").name == "Summer"
        added = vx.batch_calls.add_contacts(batch.id, [{"phone_number": "+13125550100"}])
        assert (added.added_count, added.failed_count) == (1, 0)
        with pytest.raises(ValidationError) as caught:
            vx.batch_calls.update(batch.id, start_time="18:00", end_time="09:00")
        assert caught.value.field == "end_time"
        assert vx.batch_calls.schedule(batch.id, timezone="Europe/Paris").status == "scheduled"
        assert vx.batch_calls.pause(batch.id).status == "paused"
        with pytest.raises(Conflict):
            vx.batch_calls.delete(batch.id)
        page = vx.batch_calls.contacts(batch.id, status="pending")
        assert page.pagination.total == 3
        assert vx.batch_calls.analytics(batch.id).contacts_by_status == {"pending": 3}
        assert vx.batch_calls.cancel(batch.id).status == "cancelled"
        assert [b.id for b in vx.batch_calls.list(status="cancelled").data] == [batch.id]
        assert vx.batch_calls.delete(batch.id).deleted
    async with AsyncVoxline(live.base_url, live.other.api_key, timeout=10) as other:
        with pytest.raises(NotFound):
            await other.batch_calls.get(batch.id)
        assert (await other.batch_calls.bulk_delete([batch.id])).failed_ids == [batch.id]
