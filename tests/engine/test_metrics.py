"""The engine's counters through real sandbox calls: placements, refusals, live calls."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.engine.conftest import Phone
from tests.telephony.placement import refused_call


async def scrape(phone: Phone) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await phone.client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


PLACED = ("voxline_call_placements_total", frozenset({("provider", "sandbox")}))


async def test_a_call_counts_one_placement_and_is_live_until_it_ends(phone: Phone) -> None:
    before = await scrape(phone)
    assert before.get(PLACED, 0) == 0
    assert total(before, "voxline_live_calls") == 0

    created = await phone.call("+14155550100", variables={"first_name": "Jane"})
    assert created.status_code == 201, created.text
    during = await scrape(phone)
    # The sandbox talker speaks for a while (even 50x faster), so it is live right now.
    assert total(during, "voxline_live_calls") == 1
    call = await phone.wait_finished(created.json()["data"]["id"])
    assert call["status"] == "completed"

    after = await scrape(phone)
    assert after[PLACED] == 1
    assert total(after, "voxline_call_placement_failures_total") == 0
    assert total(after, "voxline_live_calls") == 0
    assert (
        after[
            ("voxline_live_calls", frozenset({("status", "in_progress"), ("provider", "sandbox")}))
        ]
        == 0
    )


async def test_a_refused_placement_counts_a_failure_with_its_reason(phone: Phone) -> None:
    created = await phone.call("+14155550104")  # not in service
    call = await refused_call(phone.client, created, headers=phone.tenant.headers)
    assert call["status"] == "failed"

    samples = await scrape(phone)
    rejected = frozenset({("provider", "sandbox"), ("reason", "rejected")})
    assert samples[("voxline_call_placement_failures_total", rejected)] == 1
    assert samples.get(PLACED, 0) == 0
    assert total(samples, "voxline_live_calls") == 0
    # No number and no id in any label.
    for name, labels in samples:
        for _, label in labels:
            assert "+1415" not in label and call["id"] not in label, (name, label)
