"""The curl examples of the Calls API reference, run with real curl against a live server.

Each example is the reference's own command with only the host, the API key and the ids
replaced by those of the live deployment.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import time
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from tests.e2e.conftest import LiveServer
from voxline.storage.db import Database
from voxline.storage.tables import calls


def curl(live: LiveServer, command: str) -> tuple[int, dict[str, Any]]:
    """Run a reference curl command against ``live``; returns (HTTP status, JSON body)."""
    command = (
        command.replace("https://api.truedy.ai", live.base_url)
        .replace("YOUR_API_KEY", live.api_key)
        .replace("\\\n", " ")
    )
    args = shlex.split(command)
    assert args[0] == "curl"
    result = subprocess.run(
        [*args, "--silent", "--show-error", "--write-out", "\n%{http_code}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), json.loads(body)


def wait_finished(live: LiveServer, call_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the call until the engine has ended and finalized it (it then has a summary)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{live.api}/calls/{call_id}", headers=live.headers, timeout=10)
        call: dict[str, Any] = response.json()["data"]
        if call["summary"] is not None:
            return call
        assert time.monotonic() < deadline, f"call did not finish: {call}"
        time.sleep(0.1)


CREATE = """curl -X POST "https://api.truedy.ai/api/public/v1/calls" \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -H "X-Idempotency-Key: {key}" \\
  -d '{{
    "agent_id": "{agent_id}",
    "phone_number": "+14155550123",
    "variables": {{ "first_name": "Jane", "company": "Acme Inc" }}
  }}'"""


def create_call(live: LiveServer, key: str | None = None) -> tuple[int, dict[str, Any]]:
    return curl(live, CREATE.format(key=key or uuid.uuid4(), agent_id=live.agent_id))


def test_create_call_example(live_server: LiveServer) -> None:
    key = str(uuid.uuid4())
    status, body = create_call(live_server, key)
    assert status == 201, body
    call = body["data"]
    assert call["status"] == "queued"
    assert call["direction"] == "outbound"
    assert call["agent_id"] == live_server.agent_id
    assert call["phone_number"] == "+14155550123"
    assert call["from_number"] == live_server.phone_number
    assert call["variables"] == {"first_name": "Jane", "company": "Acme Inc"}
    assert uuid.UUID(body["meta"]["request_id"])

    again_status, again = create_call(live_server, key)
    assert again_status == 201
    assert again["data"]["id"] == call["id"]


def test_list_and_get_examples(live_server: LiveServer) -> None:
    _, created = create_call(live_server)
    call_id = created["data"]["id"]
    finished = wait_finished(live_server, call_id)
    assert finished["status"] == "completed"

    status, listed = curl(
        live_server,
        'curl "https://api.truedy.ai/api/public/v1/calls?status=completed&limit=20&offset=0" \\\n'
        '  -H "Authorization: Bearer YOUR_API_KEY"',
    )
    assert status == 200
    assert call_id in [c["id"] for c in listed["data"]]
    assert all(c["status"] == "completed" for c in listed["data"])
    assert listed["pagination"]["limit"] == 20
    assert listed["pagination"]["offset"] == 0

    status, got = curl(
        live_server,
        f'curl "https://api.truedy.ai/api/public/v1/calls/{call_id}" \\\n'
        '  -H "Authorization: Bearer YOUR_API_KEY"',
    )
    assert status == 200
    assert got["data"] == {**finished, "updated_at": got["data"]["updated_at"]}
    assert isinstance(got["data"]["duration_seconds"], int)
    assert got["data"]["cost_usd"] is not None


def test_update_example(live_server: LiveServer) -> None:
    _, created = create_call(live_server)
    call_id = created["data"]["id"]
    status, body = curl(
        live_server,
        f'curl -X PATCH "https://api.truedy.ai/api/public/v1/calls/{call_id}" \\\n'
        '  -H "Authorization: Bearer YOUR_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        """  -d '{
    "context": { "priority": "high" },
    "call_settings": { "recording_enabled": true }
  }'""",
    )
    assert status == 200, body
    assert body["data"]["context"]["priority"] == "high"
    assert body["data"]["call_settings"]["recording_enabled"] is True


def test_delete_and_bulk_delete_examples(live_server: LiveServer) -> None:
    ids = [create_call(live_server)[1]["data"]["id"] for _ in range(3)]
    delete = (
        f'curl -X DELETE "https://api.truedy.ai/api/public/v1/calls/{ids[0]}" \\\n'
        '  -H "Authorization: Bearer YOUR_API_KEY"'
    )
    status, body = curl(live_server, delete)
    assert status == 409, body
    assert body["error"]["code"] == "conflict"
    for call_id in ids:
        wait_finished(live_server, call_id)
    status, body = curl(live_server, delete)
    assert status == 200, body

    status, body = curl(
        live_server,
        'curl -X POST "https://api.truedy.ai/api/public/v1/calls/bulk-delete" \\\n'
        '  -H "Authorization: Bearer YOUR_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"""  -d '{{
    "ids": [
      "{ids[1]}",
      "{ids[2]}",
      "{ids[0]}"
    ]
  }}'""",
    )
    assert status == 200, body
    assert sorted(body["data"]["deleted_ids"]) == sorted(ids[1:])
    assert body["data"]["failed_ids"] == [ids[0]]
    assert body["data"]["deleted_count"] == 2


def test_transcript_and_recording_examples(live_server: LiveServer) -> None:
    _, created = create_call(live_server)
    call_id = created["data"]["id"]
    transcript = (
        f'curl "https://api.truedy.ai/api/public/v1/calls/{call_id}/transcript" \\\n'
        '  -H "Authorization: Bearer YOUR_API_KEY"'
    )
    finished = wait_finished(live_server, call_id)
    status, body = curl(live_server, transcript)
    assert status == 200
    turns = body["data"]["transcript"]
    assert turns[0] == {
        "speaker": "agent",
        "text": "Hi Jane, this is Ava from Voxline Dental.",
        "timestamp": turns[0]["timestamp"],
    }
    assert {t["speaker"] for t in turns} == {"agent", "contact"}
    assert body["data"]["summary"] == finished["summary"]

    status, body = curl(
        live_server,
        f'curl "https://api.truedy.ai/api/public/v1/calls/{call_id}/recording" \\\n'
        '  -H "Authorization: Bearer YOUR_API_KEY"',
    )
    assert status == 404


def test_error_envelope_on_invalid_number(live_server: LiveServer) -> None:
    status, body = curl(
        live_server,
        CREATE.format(key=uuid.uuid4(), agent_id=live_server.agent_id).replace(
            "+14155550123", "4155550123"
        ),
    )
    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["details"]["field"] == "phone_number"


def count_calls(live: LiveServer) -> int:
    async def count() -> int:
        db = Database(live.database_url)
        try:
            async with db.read() as conn:
                query = sa.select(sa.func.count()).select_from(calls)
                return int((await conn.execute(query)).scalar_one())
        finally:
            await db.dispose()

    return asyncio.run(count())


def test_a_repeated_idempotent_create_adds_one_call_row(live_server: LiveServer) -> None:
    before = count_calls(live_server)
    key = str(uuid.uuid4())
    first = create_call(live_server, key)[1]["data"]["id"]
    second = create_call(live_server, key)[1]["data"]["id"]
    assert first == second
    assert count_calls(live_server) == before + 1
