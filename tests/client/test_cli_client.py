"""``voxline calls …`` and ``voxline agents …`` against a live server, through Typer's runner.

Every run gets a fresh ``XDG_CONFIG_HOME`` and no ``VOXLINE_API_*`` variables, so neither the
developer's own config nor environment can leak in.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.client.conftest import TO, LiveApi
from tests.factories import insert_call, insert_turn
from voxline.cli import app
from voxline.cli_client import (
    EXIT_AUTH,
    EXIT_CALL_NOT_COMPLETED,
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    follow,
)
from voxline.client import NO_RETRY, Voxline
from voxline.config import load_client_config


@pytest.fixture
def xdg(tmp_path: Path) -> Path:
    return tmp_path / "xdg"


def run(xdg: Path, *args: str, **env: str) -> Result:
    clean = {"VOXLINE_API_URL": None, "VOXLINE_API_KEY": None, "XDG_CONFIG_HOME": str(xdg)}
    return CliRunner().invoke(app, list(args), env={**clean, **env})


def flags(live: LiveApi, api_key: str | None = None) -> list[str]:
    return ["--base-url", live.base_url, "--api-key", api_key or live.tenant.api_key]


async def test_calls_list_json_prints_the_data(live: LiveApi, xdg: Path) -> None:
    ids = {await insert_call(live.db, live.tenant.org_id, live.agent_id) for _ in range(3)}
    result = run(xdg, "calls", "list", "--json", "--limit", "2", *flags(live))
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert len(listed) == 2 and {c["id"] for c in listed} <= ids
    every = json.loads(run(xdg, "calls", "list", "--all", "--json", *flags(live)).stdout)
    assert {c["id"] for c in every} == ids
    table = run(xdg, "calls", "list", *flags(live)).stdout
    assert all(call_id in table for call_id in ids)


async def test_calls_create_get_transcript_and_delete(live: LiveApi, xdg: Path) -> None:
    created = run(
        xdg, "calls", "create", "--agent", live.agent_id, "--to", TO, "--var", "first_name=Ada",
        "--json", *flags(live),
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    call = json.loads(created.stdout)
    assert call["status"] == "queued" and call["variables"] == {"first_name": "Ada"}

    shown = run(xdg, "calls", "get", call["id"], *flags(live))
    assert shown.exit_code == 0 and "queued" in shown.stdout and TO in shown.stdout

    ended = await insert_call(live.db, live.tenant.org_id, live.agent_id)
    await insert_turn(live.db, ended, 0, "contact", "Who is this?", 1.5)
    said = run(xdg, "calls", "transcript", ended, *flags(live))
    assert said.exit_code == 0 and "Who is this?" in said.stdout
    assert run(xdg, "calls", "delete", ended, *flags(live)).exit_code == 0
    assert run(xdg, "calls", "get", ended, *flags(live)).exit_code == EXIT_NOT_FOUND


async def test_another_organizations_call_exits_not_found(live: LiveApi, xdg: Path) -> None:
    theirs = await insert_call(live.db, live.other.org_id, None)
    result = run(xdg, "calls", "get", theirs, "--json", *flags(live))
    assert result.exit_code == EXIT_NOT_FOUND
    assert result.stdout == "" and "not_found" in result.stderr


def test_a_bad_key_exits_auth_and_is_not_echoed(live: LiveApi, xdg: Path) -> None:
    secret = "vx_live_definitely_wrong_0123456789"
    result = run(xdg, "calls", "list", *flags(live, secret))
    assert result.exit_code == EXIT_AUTH
    assert "unauthorized" in result.stderr and secret not in result.output


def test_no_key_anywhere_exits_auth_and_says_where_to_put_one(xdg: Path) -> None:
    result = run(xdg, "agents", "list")
    assert result.exit_code == EXIT_AUTH
    assert "VOXLINE_API_KEY" in result.stderr


def test_an_unreachable_server_exits_5(xdg: Path) -> None:
    result = run(xdg, "calls", "list", "--base-url", "http://127.0.0.1:9", "--api-key", "k")
    assert result.exit_code == EXIT_UNREACHABLE


async def test_agents_create_update_list_and_get(live: LiveApi, xdg: Path) -> None:
    made = run(
        xdg, "agents", "create", "--name", "Bea", "--prompt", "You are Bea.", "--model",
        "scripted", "--json", *flags(live),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    agent_id = json.loads(made.stdout)["id"]
    changed = run(xdg, "agents", "update", agent_id, "--greeting", "Hi", "--json", *flags(live))
    assert json.loads(changed.stdout)["greeting"] == "Hi"

    table = run(xdg, "agents", "list", *flags(live))
    assert table.exit_code == 0 and "Bea" in table.stdout and "Test agent" in table.stdout
    listed = json.loads(run(xdg, "agents", "list", "--json", *flags(live)).stdout)
    assert {a["id"] for a in listed} == {agent_id, live.agent_id}
    assert "You are Bea." in run(xdg, "agents", "get", agent_id, *flags(live)).stdout
    assert run(xdg, "agents", "update", agent_id, *flags(live)).exit_code == 2


async def test_the_config_file_supplies_url_and_key(live: LiveApi, xdg: Path) -> None:
    (xdg / "voxline").mkdir(parents=True)
    (xdg / "voxline" / "config.toml").write_text(
        f'base_url = "{live.base_url}"\napi_key = "{live.tenant.api_key}"\n'
    )
    result = run(xdg, "agents", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [a["id"] for a in json.loads(result.stdout)] == [live.agent_id]
    # The environment wins over the file, a flag over both.
    assert run(xdg, "agents", "list", VOXLINE_API_KEY="wrong").exit_code == EXIT_AUTH
    other = run(xdg, "agents", "list", "--json", "--api-key", live.other.api_key)
    assert json.loads(other.stdout) == []


def test_client_config_precedence_and_default(tmp_path: Path) -> None:
    assert load_client_config(environ={"XDG_CONFIG_HOME": str(tmp_path)}).api_key is None
    (tmp_path / "voxline").mkdir()
    (tmp_path / "voxline" / "config.toml").write_text('base_url = "http://file"\napi_key = "f"')
    env = {"XDG_CONFIG_HOME": str(tmp_path), "VOXLINE_API_URL": "http://env"}
    config = load_client_config(api_key="flag", environ=env)
    assert (config.base_url, config.api_key) == ("http://env", "flag")
    assert "flag" not in repr(config)
    (tmp_path / "voxline" / "config.toml").write_text("base_url = ")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_client_config(environ=env)


async def test_watch_exits_with_how_the_call_ended(live: LiveApi, xdg: Path) -> None:
    done = await insert_call(live.db, live.tenant.org_id, live.agent_id)
    busy = await insert_call(live.db, live.tenant.org_id, live.agent_id, status="busy")
    assert run(xdg, "calls", "watch", done, *flags(live)).exit_code == 0
    result = run(xdg, "calls", "watch", busy, "--json", *flags(live))
    assert result.exit_code == EXIT_CALL_NOT_COMPLETED
    assert json.loads(result.stdout)["status"] == "busy"
    assert run(xdg, "calls", "watch", "nope", *flags(live)).exit_code == EXIT_NOT_FOUND


def test_follow_polls_until_the_call_ends() -> None:
    statuses = iter(["queued", "ringing", "in_progress", "in_progress", "completed"])

    def answer(request: httpx.Request) -> httpx.Response:
        call = {
            "id": "c1", "agent_id": None, "phone_number": TO, "direction": "outbound",
            "status": next(statuses), "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }  # fmt: skip
        return httpx.Response(200, json={"data": call, "meta": {}})

    waits: list[float] = []
    vx = Voxline("http://vx.test", "k", retry=NO_RETRY, transport=httpx.MockTransport(answer))
    seen = [c.status for c in follow(vx, "c1", interval=1.5, timeout=None, sleep=waits.append)]
    assert seen == ["queued", "ringing", "in_progress", "in_progress", "completed"]
    assert waits == [1.5] * 4


def test_follow_stops_at_its_timeout() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        call = {
            "id": "c1", "agent_id": None, "phone_number": TO, "direction": "outbound",
            "status": "in_progress", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }  # fmt: skip
        return httpx.Response(200, json={"data": call, "meta": {}})

    now = [0.0]
    vx = Voxline("http://vx.test", "k", retry=NO_RETRY, transport=httpx.MockTransport(answer))
    readings = follow(
        vx, "c1", interval=2, timeout=5, sleep=lambda s: now.__setitem__(0, now[0] + s),
        clock=lambda: now[0],
    )  # fmt: skip
    assert len(list(readings)) == 4  # at 0, 2, 4 and 6 seconds
