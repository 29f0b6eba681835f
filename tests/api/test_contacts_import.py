"""POST /contacts/import: a CSV upload read as it arrives, and the JSON form."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API
from tests.factories import Tenant
from voxline.config import Settings
from voxline.services.contact_imports import ERROR_DETAILS_MAX

CSV = (
    "phone,name,email,company,timezone,plan\n"
    "+14155550100,Jane Doe,jane@example.com,Sunny Co,America/Los_Angeles,gold\n"
    "not-a-number,Bad Phone,,,,\n"
    "+1 415 555 0101,Bob,bob@example,,,\n"
    "\n"
    "+14155550102,Ann Lee,,,Mars/Base,\n"
    "+14155550103,Tom,,,,silver\n"
    ",No Phone,,,,\n"
)


async def upload(
    client: httpx.AsyncClient,
    tenant: Tenant,
    content: bytes | Any,
    path: str = "/contacts/import",
    **fields: str,
) -> httpx.Response:
    return await client.post(
        f"{API}{path}",
        files={"file": ("contacts.csv", content, "text/csv")},
        data=fields,
        headers=tenant.headers,
    )


async def contacts_of(
    client: httpx.AsyncClient, tenant: Tenant, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(
        f"{API}/contacts", params={"limit": 100, **params}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_csv_import_reports_bad_rows_by_row_number(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await upload(client, tenant, CSV.encode())
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert (result["imported"], result["updated"], result["skipped"]) == (2, 0, 0)
    assert result["errors"] == 4 and result["error_details_omitted"] == 0
    assert [(e["row"], e["phone"]) for e in result["error_details"]] == [
        (3, "not-a-number"),
        (4, "+1 415 555 0101"),
        (6, "+14155550102"),
        (8, None),
    ]
    reasons = [e["reason"] for e in result["error_details"]]
    assert "E.164" in reasons[0] and "email" in reasons[1] and "time zone" in reasons[2]
    assert "required" in reasons[3]

    stored = {c["phone_number"]: c for c in await contacts_of(client, tenant)}
    assert set(stored) == {"+14155550100", "+14155550103"}
    jane = stored["+14155550100"]
    assert (jane["first_name"], jane["last_name"]) == ("Jane", "Doe")
    assert jane["company_name"] == "Sunny Co"
    assert jane["custom_fields"] == {"plan": "gold"}
    assert jane["folder_id"] == result["folder_id"]


async def test_overwrite_existing_updates_only_when_asked(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = "phone,first_name,email\n+14155550100,Jane,jane@example.com\n"
    assert (await upload(client, tenant, first.encode())).json()["data"]["imported"] == 1
    second = "phone,first_name\n+14155550100,Janet\n+14155550101,New\n+14155550101,Again\n"

    kept = (await upload(client, tenant, second.encode())).json()["data"]
    assert (kept["imported"], kept["updated"], kept["skipped"]) == (1, 0, 2)
    stored = {c["phone_number"]: c for c in await contacts_of(client, tenant)}
    assert stored["+14155550100"]["first_name"] == "Jane"
    assert stored["+14155550101"]["first_name"] == "New"

    replaced = (await upload(client, tenant, second.encode(), overwrite_existing="true")).json()[
        "data"
    ]
    assert (replaced["imported"], replaced["updated"], replaced["skipped"]) == (0, 3, 0)
    stored = {c["phone_number"]: c for c in await contacts_of(client, tenant)}
    assert stored["+14155550100"]["first_name"] == "Janet"
    assert stored["+14155550100"]["email"] == "jane@example.com"  # not a column: kept
    assert stored["+14155550101"]["first_name"] == "Again"
    assert len(stored) == 2


async def test_import_into_a_folder_and_not_into_anothers(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    folder = await client.post(
        f"{API}/contacts/folders", json={"name": "Leads"}, headers=tenant.headers
    )
    folder_id = folder.json()["data"]["id"]
    done = await upload(client, tenant, b"phone\n+14155550100\n", folder_id=folder_id)
    assert done.json()["data"]["folder_id"] == folder_id
    assert [c["folder_id"] for c in await contacts_of(client, tenant)] == [folder_id]
    theirs = await upload(client, other_tenant, b"phone\n+14155550100\n", folder_id=folder_id)
    assert theirs.status_code == 404
    assert await contacts_of(client, other_tenant) == []


@pytest.mark.parametrize(
    ("content", "fields", "field"),
    [
        (b"name,email\nJane,jane@example.com\n", {}, "file"),
        (b"", {}, "file"),
        (b"\xff\xfephone\n", {}, "file"),
        (b"phone\n+14155550100\n", {"overwrite_existing": "maybe"}, "overwrite_existing"),
    ],
)
async def test_unusable_uploads_are_refused(
    client: httpx.AsyncClient,
    tenant: Tenant,
    content: bytes,
    fields: dict[str, str],
    field: str,
) -> None:
    response = await upload(client, tenant, content, **fields)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field
    assert await contacts_of(client, tenant) == []


async def test_multipart_without_a_file_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        f"{API}/contacts/import",
        files={"folder_id": (None, "x")},
        headers=tenant.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "file"


async def test_a_file_that_stops_being_utf8_keeps_the_rows_before(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    good = "".join(f"+1415555{i:04d}\n" for i in range(3000)).encode()
    content = b"phone\n" + good + b"+1415555\xff0101\n"
    response = await upload(client, tenant, content)
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    # Decoding goes a few kilobytes at a time: the rows of the chunks before the bad byte.
    assert 2000 < result["imported"] <= 3000 and result["errors"] == 1
    (error,) = result["error_details"]
    assert "UTF-8" in error["reason"] and error["row"] == result["imported"] + 2


async def test_error_details_are_capped_with_a_count_of_the_rest(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    bad = ERROR_DETAILS_MAX + 5
    content = "phone\n" + "nope\n" * bad + "+14155550100\n"
    result = (await upload(client, tenant, content.encode())).json()["data"]
    assert result["errors"] == bad and result["imported"] == 1
    assert len(result["error_details"]) == ERROR_DETAILS_MAX
    assert result["error_details_omitted"] == 5
    assert result["error_details"][-1]["row"] == ERROR_DETAILS_MAX + 1


async def test_json_import(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {
        "contacts": [
            {"phone_number": "+14155550100", "first_name": "Jane", "metadata": {"a": "1"}},
            {"phone": "+14155550101", "timezone": "Europe/Paris"},
            {"phone_number": "bad"},
            {"first_name": "No phone"},
            {"phone_number": "+14155550102", "favourite": "x"},
        ]
    }
    response = await client.post(f"{API}/contacts/import", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert result["imported"] == 2 and result["errors"] == 3
    assert [e["row"] for e in result["error_details"]] == [3, 4, 5]
    stored = {c["phone_number"]: c for c in await contacts_of(client, tenant)}
    assert stored["+14155550100"]["custom_fields"] == {"a": "1"}
    assert stored["+14155550101"]["timezone"] == "Europe/Paris"

    again = {
        **body,
        "overwrite_existing": True,
        "contacts": [{"phone": "+14155550100", "first_name": "J"}],
    }
    result = (
        await client.post(f"{API}/contacts/import", json=again, headers=tenant.headers)
    ).json()["data"]
    assert result["updated"] == 1
    stored = {c["phone_number"]: c for c in await contacts_of(client, tenant)}
    assert stored["+14155550100"]["first_name"] == "J"
    assert stored["+14155550100"]["custom_fields"] == {"a": "1"}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"contacts": []}, 422, "contacts"),
        ({"contacts": [{}], "overwrite_existing": "yes"}, 422, "overwrite_existing"),
        ({"contacts": [{}], "extra": 1}, 422, "extra"),
        ({}, 422, "contacts"),
    ],
)
async def test_invalid_json_imports_are_refused(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], status: int, field: str
) -> None:
    response = await client.post(f"{API}/contacts/import", json=body, headers=tenant.headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["details"]["field"] == field


async def test_malformed_json_is_a_bad_request(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        f"{API}/contacts/import",
        content=b"{",
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text


async def test_json_import_keeps_the_body_limit_and_csv_gets_the_upload_limit(
    app_factory: Any, settings: Settings, tenant: Tenant
) -> None:
    small = settings.model_copy(
        update={"max_body_bytes": 4096, "contacts_import_max_bytes": 64 * 1024}
    )
    app = app_factory(small)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as client:
        many = {"contacts": [{"phone": f"+1415555{i:04d}"} for i in range(300)]}
        too_big = await client.post(f"{API}/contacts/import", json=many, headers=tenant.headers)
        assert too_big.status_code == 413, too_big.text

        rows = "phone\n" + "".join(f"+1415555{i:04d}\n" for i in range(2000))
        assert 4096 < len(rows) < 64 * 1024
        fine = await upload(client, tenant, rows.encode())
        assert fine.status_code == 200, fine.text
        assert fine.json()["data"]["imported"] == 2000

        huge = "phone\n" + "".join(f"+1415556{i:04d}\n" for i in range(8000))
        refused = await upload(client, tenant, huge.encode())
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["details"]["max_bytes"] == 64 * 1024

        async def chunks() -> Any:
            for start in range(0, len(huge), 4096):
                yield huge[start : start + 4096].encode()

        boundary = "b0undary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="c.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()

        async def body() -> Any:
            yield head
            async for chunk in chunks():
                yield chunk
            yield f"\r\n--{boundary}--\r\n".encode()

        streamed = await client.post(
            f"{API}/contacts/import",
            content=body(),
            headers={
                **tenant.headers,
                "Content-Type": f"multipart/form-data; boundary={boundary}",
            },
        )
        assert streamed.status_code == 413, streamed.text


async def test_a_hundred_thousand_rows_import_in_flat_memory(
    client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("memory is the import's, not the backend's: one backend is enough")
    rows = 100_000
    path = tmp_path / "big.csv"
    with path.open("w") as out:
        out.write("phone,name,email\n")
        for i in range(rows):
            out.write(f"+1{2000000000 + i},Name {i},p{i}@example.com\n")
    size = path.stat().st_size
    assert size > 4_000_000

    gc.collect()
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        with path.open("rb") as file:
            response = await upload(client, tenant, file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    result = response.json()["data"]
    assert (result["imported"], result["errors"]) == (rows, 0)
    growth = peak - baseline
    # About 5 MB of it is fixed cost (compiled statements, the first batches); holding the
    # file's bytes and its text, or the rows, would pass 10 MB.
    assert growth < 10 * 1024 * 1024, f"peak grew by {growth / 1e6:.1f} MB"
    listed = await client.get(f"{API}/contacts", params={"limit": 1}, headers=tenant.headers)
    assert listed.json()["pagination"]["total"] == rows
