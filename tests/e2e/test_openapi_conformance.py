"""Schemathesis drives the live server from its own OpenAPI document: no request may give a
5xx, and every response must match the documented status codes, headers and schemas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import LiveServer

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


def test_openapi_document_is_3_1_with_bearer_auth(live_server: LiveServer) -> None:
    document = httpx.get(f"{live_server.api}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    assert "BearerAuth" in document["components"]["securitySchemes"]
    assert "/api/public/v1/calls" in document["paths"]
    docs = httpx.get(f"{live_server.api}/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_schemathesis_finds_no_server_error_or_schema_violation(
    live_server: LiveServer, tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(schemathesis),
            "run",
            f"{live_server.api}/openapi.json",
            "--header",
            f"Authorization: Bearer {live_server.api_key}",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            # Fuzzed cases per operation, on top of the examples and the coverage phase's
            # boundary values; 10 keeps both backends' runs to about a minute.
            "--max-examples",
            "10",
            "--seed",
            "1234",
            # One worker: schemathesis's threads build ASTs at once, which CPython 3.11 does
            # not support ("SystemError: AST constructor recursion depth mismatch").
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "20",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
