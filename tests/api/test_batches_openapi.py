"""The OpenAPI document describes every batch-calls operation and its error statuses."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import API

ALWAYS = {"401", "413", "422", "429", "500"}
BATCH = "/batch-calls/{batch_call_id}"

EXPECTED = {
    ("/batch-calls", "get"): {"200"},
    ("/batch-calls", "post"): {"201", "400", "404", "409"},
    ("/batch-calls/bulk-delete", "post"): {"200", "400"},
    (BATCH, "get"): {"200", "404"},
    (BATCH, "patch"): {"200", "400", "404", "409"},
    (BATCH, "delete"): {"200", "404", "409"},
    (f"{BATCH}/schedule", "post"): {"200", "400", "404", "409"},
    (f"{BATCH}/pause", "post"): {"200", "404", "409"},
    (f"{BATCH}/resume", "post"): {"201", "404", "409"},
    (f"{BATCH}/cancel", "post"): {"200", "404", "409"},
    (f"{BATCH}/contacts", "get"): {"200", "404"},
    (f"{BATCH}/contacts", "post"): {"200", "400", "404", "409"},
    (f"{BATCH}/analytics", "get"): {"200", "404"},
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_each_batch_operation_lists_exactly_its_statuses_with_the_envelope(
    document: dict[str, object],
) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    found = {
        (path.removeprefix(API), method): set(operation["responses"])
        for path, operations in paths.items()
        if path.startswith(f"{API}/batch-calls")
        for method, operation in operations.items()
    }
    assert found == {key: statuses | ALWAYS for key, statuses in EXPECTED.items()}
    for path, operations in paths.items():
        if path.startswith(f"{API}/batch-calls"):
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    if int(status) >= 400:
                        assert "ErrorEnvelope" in str(response), (path, status)
    create = paths[f"{API}/batch-calls"]["post"]
    assert "X-Idempotency-Key" in {p["name"] for p in create["parameters"]}
    schemas = document["components"]["schemas"]  # type: ignore[index]
    for counter in ("total_contacts", "called", "completed", "failed", "pending"):
        assert counter in schemas["BatchOut"]["properties"]
