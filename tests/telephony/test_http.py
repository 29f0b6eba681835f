"""The carriers' one HTTP base: what is retryable, and that no failure carries credentials."""

from __future__ import annotations

import socket

import httpx
import pytest

from voxline.errors import ProviderError
from voxline.telephony.http import ProviderHttp, retryable_status

SECRET = "s3cr3t-token"


def _answering(status: int, body: bytes = b"") -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body))


def _vendor_text(response: httpx.Response) -> tuple[str, str | None]:
    return f"Vendor said {response.status_code}: {response.text}", "E42"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *((status, True) for status in (500, 502, 503, 408, 429)),
        *((status, False) for status in (400, 401, 403, 404, 409, 422)),
    ],
)
def test_only_server_errors_timeouts_and_rate_limits_are_retryable(
    status: int, retryable: bool
) -> None:
    assert retryable_status(status) is retryable


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (400, False)])
async def test_an_error_answer_becomes_a_provider_error_worded_by_the_vendor(
    status: int, retryable: bool
) -> None:
    http = ProviderHttp(
        "vendor", label="Vendor", error_text=_vendor_text, transport=_answering(status, b"no")
    )
    try:
        with pytest.raises(ProviderError) as caught:
            await http.request("POST", "https://api.vendor.test/calls", auth=("id", SECRET))
    finally:
        await http.aclose()

    error = caught.value
    assert (error.retryable, error.http_status, error.provider_code) == (retryable, status, "E42")
    assert error.message == f"Vendor said {status}: no"
    assert error.details["provider"] == "vendor"


async def test_an_allowed_status_is_an_answer_not_an_error() -> None:
    http = ProviderHttp("vendor", label="Vendor", transport=_answering(404))
    try:
        response = await http.request("DELETE", "https://api.vendor.test/x", allow=(404,))
    finally:
        await http.aclose()
    assert response.status_code == 404


async def test_a_timeout_is_retryable_and_does_not_chain_the_request() -> None:
    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    http = ProviderHttp("vendor", label="Vendor", transport=httpx.MockTransport(stall))
    try:
        with pytest.raises(ProviderError) as caught:
            await http.request("GET", "https://api.vendor.test/x", auth=("id", SECRET))
    finally:
        await http.aclose()

    assert caught.value.retryable
    assert caught.value.message == "Vendor did not answer in time"
    # The request (and its Authorization header) is not reachable from the error.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_an_unreachable_vendor_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    http = ProviderHttp("vendor", label="Vendor", timeout_seconds=2)
    try:
        with pytest.raises(ProviderError) as caught:
            await http.request("GET", f"http://127.0.0.1:{port}/x", auth=("id", SECRET))
    finally:
        await http.aclose()

    assert caught.value.retryable
    assert caught.value.message.startswith("Could not reach Vendor")
    assert SECRET not in str(caught.value.details)


@pytest.mark.parametrize(("body", "retryable"), [(b"<html>oops</html>", False), (b"[1, 2]", False)])
async def test_a_success_without_a_json_object_is_a_final_error(
    body: bytes, retryable: bool
) -> None:
    http = ProviderHttp("vendor", label="Vendor", transport=_answering(200, body))
    try:
        response = await http.request("GET", "https://api.vendor.test/x")
        with pytest.raises(ProviderError) as caught:
            http.json_object(response)
    finally:
        await http.aclose()
    assert caught.value.retryable is retryable


async def test_an_empty_success_is_an_empty_object() -> None:
    http = ProviderHttp("vendor", label="Vendor", transport=_answering(204))
    try:
        response = await http.request("POST", "https://api.vendor.test/x")
    finally:
        await http.aclose()
    assert http.json_object(response) == {}
