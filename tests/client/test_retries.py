"""Retries, backoff and error mapping, over ``httpx.MockTransport`` (no network, no patching).

Waits are switched off with ``RetryPolicy(wait=False)``; where a wait's length matters, the
client's ``sleep`` seam records it instead of sleeping.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

import voxline.client as sdk
from voxline.client import (
    AsyncVoxline,
    ConnectionFailed,
    InternalError,
    ProviderError,
    RateLimited,
    RetryPolicy,
    Voxline,
)

KEY = "vx_test_secret_key"
NO_WAIT = RetryPolicy(wait=False)
CALL = {
    "id": "c1",
    "agent_id": "a1",
    "phone_number": "+14155550123",
    "direction": "outbound",
    "status": "queued",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "a_field_from_a_newer_server": 1,
}
Handler = Callable[[httpx.Request], httpx.Response]


def envelope(status: int, code: str, message: str = "no", **headers: str) -> httpx.Response:
    body = {
        "error": {"code": code, "message": message, "details": {}},
        "meta": {"request_id": "r1"},
    }
    return httpx.Response(status, json=body, headers=headers)


def created() -> httpx.Response:
    return httpx.Response(201, json={"data": CALL, "meta": {"request_id": "r2"}})


class Script:
    """Answers requests with the given responses in turn, and records what it was sent."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def keys(self) -> list[str | None]:
        return [r.headers.get("X-Idempotency-Key") for r in self.requests]


def client(script: Script, retry: RetryPolicy = NO_WAIT, **kw: object) -> Voxline:
    return Voxline("http://vx.test", KEY, retry=retry, transport=httpx.MockTransport(script), **kw)  # type: ignore[arg-type]


def test_a_create_is_retried_after_503_with_the_same_idempotency_key() -> None:
    script = Script(envelope(503, "internal_error"), envelope(500, "internal_error"), created())
    call = client(script).calls.create("a1", "+14155550123")
    assert call.id == "c1"
    keys = script.keys()
    assert len(keys) == 3 and keys[0] is not None and len(set(keys)) == 1
    assert json.loads(script.requests[0].content) == json.loads(script.requests[2].content)


def test_a_given_idempotency_key_is_sent_as_is() -> None:
    script = Script(created())
    client(script).calls.create("a1", "+14155550123", idempotency_key="order-42")
    assert script.keys() == ["order-42"]


def test_every_create_gets_its_own_key() -> None:
    script = Script(created(), created())
    vx = client(script)
    vx.calls.create("a1", "+1"), vx.calls.create("a1", "+1")
    first, second = script.keys()
    assert first and second and first != second


def test_a_post_without_a_key_is_not_retried_on_5xx() -> None:
    script = Script(envelope(503, "internal_error"), created())
    with pytest.raises(InternalError) as caught:
        client(script).calls.bulk_delete(["c1"])
    assert caught.value.status == 503 and len(script.requests) == 1


def test_a_provider_refusal_is_final_and_not_retried() -> None:
    script = Script(envelope(502, "provider_error", "carrier said no"), created())
    with pytest.raises(ProviderError):
        client(script).calls.create("a1", "+1")
    assert len(script.requests) == 1


def test_attempts_are_bounded() -> None:
    script = Script(*[envelope(503, "internal_error") for _ in range(3)])
    with pytest.raises(InternalError):
        client(script, RetryPolicy(attempts=3, wait=False)).calls.get("c1")
    assert len(script.requests) == 3


def test_a_refused_connection_is_retried_even_for_a_post_without_a_key() -> None:
    refused = httpx.ConnectError("refused")
    script = Script(refused, httpx.Response(200, json={"data": {**CALL}, "meta": {}}))
    assert client(script).calls.update("c1", context={"a": 1}).id == "c1"


def test_a_read_timeout_on_a_post_without_a_key_is_not_retried() -> None:
    script = Script(httpx.ReadTimeout("slow"), created())
    with pytest.raises(ConnectionFailed):
        client(script).calls.bulk_delete(["c1"])
    assert len(script.requests) == 1


def test_retry_after_is_honoured() -> None:
    waits: list[float] = []
    script = Script(envelope(429, "rate_limit_exceeded", **{"Retry-After": "7"}), created())
    client(script, RetryPolicy(), sleep=waits.append).calls.create("a1", "+1")
    assert len(waits) == 1 and 7 <= waits[0] <= 8
    assert len(set(script.keys())) == 1


def test_a_retry_after_beyond_the_patience_is_raised_with_its_value() -> None:
    script = Script(envelope(429, "rate_limit_exceeded", **{"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as caught:
        client(script).calls.get("c1")
    assert caught.value.retry_after == 3600 and caught.value.status == 429


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=6, backoff=1, max_backoff=4, jitter=lambda: 1.0)
    script = Script(*[envelope(500, "internal_error") for _ in range(6)])
    with pytest.raises(InternalError):
        client(script, policy, sleep=waits.append).calls.get("c1")
    assert waits == [1, 2, 4, 4, 4]
    half = RetryPolicy(backoff=1, jitter=lambda: 0.5)
    assert half.backoff_delay(3) == 2


def test_a_bare_proxy_error_is_typed_by_its_status() -> None:
    script = Script(httpx.Response(504, text="<html>gateway timeout</html>"))
    with pytest.raises(InternalError) as caught:
        client(script, sdk.NO_RETRY).calls.get("c1")
    assert caught.value.status == 504 and caught.value.code == "internal_error"


def test_unknown_fields_are_kept_and_ids_are_escaped_in_paths() -> None:
    script = Script(httpx.Response(200, json={"data": CALL, "meta": {}}))
    call = client(script).calls.get("../agents")
    assert call.model_extra == {"a_field_from_a_newer_server": 1}
    assert script.requests[0].url.raw_path == b"/api/public/v1/calls/..%2Fagents"


def test_the_key_is_sent_as_a_bearer_token_but_never_shown() -> None:
    script = Script(envelope(401, "unauthorized", "Invalid or missing API key"))
    vx = client(script)
    with pytest.raises(sdk.Unauthorized) as caught:
        vx.calls.get("c1")
    assert script.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    shown = repr(vx) + repr(vx._http) + str(caught.value) + repr(caught.value)
    assert KEY not in shown


def test_a_recording_is_fetched_without_the_key() -> None:
    signed = "http://files.test/recordings/c1.wav?sig=abc"
    script = Script(
        httpx.Response(200, json={"data": {"recording_url": signed}, "meta": {}}),
        httpx.Response(200, content=b"RIFF"),
    )
    assert client(script).calls.recording("c1") == b"RIFF"
    assert str(script.requests[1].url) == signed
    assert "Authorization" not in script.requests[1].headers


async def test_the_async_client_retries_the_same_way() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    script = Script(envelope(503, "internal_error"), created())
    transport = httpx.MockTransport(script)
    async with AsyncVoxline("http://vx.test", KEY, transport=transport, sleep=sleep) as vx:
        assert (await vx.calls.create("a1", "+1")).id == "c1"
    assert len(waits) == 1 and len(set(script.keys())) == 1


def test_the_public_names_are_exactly_all() -> None:
    exported = {name for name in dir(sdk) if not name.startswith("_")}
    modules = {
        "agents",
        "batch_calls",
        "calls",
        "errors",
        "models",
        "numbers",
        "sandbox",
        "signatures",
        "tools",
        "voices",
        "webhooks",
    }
    assert exported - modules == set(sdk.__all__)
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None
    for name in ("BadRequest", "NotFound", "ValidationError", "RateLimited", "ProviderError"):
        assert issubclass(getattr(sdk, name), sdk.VoxlineAPIError)
