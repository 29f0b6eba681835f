"""The OpenAPI document describes what the Tools API answers, and agents' ``tools``."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import API

ALWAYS = {"401", "413", "422", "429", "500"}

EXPECTED = {
    ("/tools", "get"): {"200"},
    ("/tools", "post"): {"201", "400", "409"},
    ("/tools/{tool_id}", "get"): {"200", "404"},
    ("/tools/{tool_id}", "patch"): {"200", "400", "404", "409"},
    ("/tools/{tool_id}", "delete"): {"200", "404", "409"},
}


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


async def test_each_tools_operation_lists_exactly_its_statuses(
    document: dict[str, object],
) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    found = {
        (path.removeprefix(API), method): set(operation["responses"])
        for path, operations in paths.items()
        if path.startswith(f"{API}/tools")
        for method, operation in operations.items()
    }

    assert found == {key: statuses | ALWAYS for key, statuses in EXPECTED.items()}


async def test_error_statuses_are_documented_with_the_error_envelope(
    document: dict[str, object],
) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    checked = 0
    for path, operations in paths.items():
        if not path.startswith(f"{API}/tools"):
            continue
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert "ErrorEnvelope" in str(response), (path, status)
                    checked += 1
    assert checked >= 5 * len(ALWAYS)


async def test_idempotency_filter_and_definition_shape_are_documented(
    document: dict[str, object],
) -> None:
    paths = document["paths"]
    assert isinstance(paths, dict)
    create = paths[f"{API}/tools"]["post"]
    listing = paths[f"{API}/tools"]["get"]
    schemas = document["components"]["schemas"]  # type: ignore[index]

    assert "X-Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert {"name", "limit", "offset"} <= {p["name"] for p in listing["parameters"]}
    definition = str(schemas["ToolCreate"]["properties"]["definition"])
    for key in ("modelToolName", "baseUrlPattern", "dynamicParameters", "filler"):
        assert key in definition
    assert "tools" in schemas["AgentCreate"]["properties"]
    assert "tools" in schemas["Agent"]["required"]
