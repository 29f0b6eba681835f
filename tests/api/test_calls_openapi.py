"""The OpenAPI document describes exactly what the Calls API answers."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import API

ALWAYS = {"401", "413", "422", "429", "500"}

EXPECTED = {
    ("/calls", "get"): {"200"},
    ("/calls", "post"): {"201", "400", "402", "404", "409", "502"},
    ("/calls/bulk-delete", "post"): {"200", "400"},
    ("/calls/{call_id}", "get"): {"200", "404"},
    ("/calls/{call_id}", "patch"): {"200", "400", "404"},
    ("/calls/{call_id}", "delete"): {"200", "404", "409"},
    ("/calls/{call_id}/recording", "get"): {"200", "404", "410"},
    ("/calls/{call_id}/transcript", "get"): {"200", "404"},
    ("/calls/{call_id}/events", "get"): {"200", "404"},
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_each_calls_operation_lists_exactly_its_statuses(
    document: dict[str, object],
) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    found = {
        (path.removeprefix(API), method): set(operation["responses"])
        for path, operations in paths.items()
        if path.startswith(f"{API}/calls")
        for method, operation in operations.items()
    }

    assert found == {key: statuses | ALWAYS for key, statuses in EXPECTED.items()}


async def test_error_statuses_are_documented_with_the_error_envelope(
    document: dict[str, object],
) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        if not path.startswith(f"{API}/calls"):
            continue
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "ErrorEnvelope" in str(response), (path, status)


async def test_the_idempotency_header_and_status_filter_are_documented(
    document: dict[str, object],
) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    create = paths[f"{API}/calls"]["post"]
    listing = paths[f"{API}/calls"]["get"]

    assert "X-Idempotency-Key" in {p["name"] for p in create["parameters"]}
    status = next(p for p in listing["parameters"] if p["name"] == "status")
    assert "in-progress" in str(status["schema"])
