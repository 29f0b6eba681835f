"""``voxline calls``, ``voxline agents`` and ``voxline sandbox``: the public API from the shell,
through the SDK.

The base URL and key come from ``--base-url``/``--api-key``, else ``VOXLINE_API_URL``/
``VOXLINE_API_KEY``, else ``~/.config/voxline/config.toml`` (see
:func:`voxline.config.load_client_config`). ``--json`` prints the response's ``data`` and
nothing else on stdout; tables, the watch line and errors go to stderr or a terminal.

Exit codes, for scripts:

    0  success (``calls watch``: the call completed)
    1  the API answered with another error (400, 402, 409, 422, 429, 5xx, …)
    2  usage error (a bad flag or argument)
    3  not found (404: no such resource, or another organization's)
    4  authentication: no API key configured, or the key was refused (401, 403)
    5  the server could not be reached
    6  ``calls watch``: the call ended without completing (failed, no_answer, busy, voicemail)
    7  ``calls watch``: ``--timeout`` passed before the call ended
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from voxline.client import (
    Agent,
    Call,
    ConnectionFailed,
    Forbidden,
    NotFound,
    Unauthorized,
    Voxline,
    VoxlineAPIError,
)
from voxline.config import client_config_path, load_client_config

EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_AUTH = 4
EXIT_UNREACHABLE = 5
EXIT_CALL_NOT_COMPLETED = 6
EXIT_WATCH_TIMEOUT = 7

_PIPE_WIDTH = 200
_ID_WIDTH = 36

calls_app = typer.Typer(help="Calls, through the public API.", no_args_is_help=True)
agents_app = typer.Typer(help="Agents, through the public API.", no_args_is_help=True)
sandbox_app = typer.Typer(help="The sandbox carrier, through the public API.", no_args_is_help=True)

out = Console()
err = Console(stderr=True)

BaseUrl = Annotated[
    str | None,
    typer.Option("--base-url", help="Deployment URL [env VOXLINE_API_URL, config base_url]"),
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", help="API key [env VOXLINE_API_KEY, config api_key]"),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the response's data as JSON")]


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def _client(base_url: str | None, api_key: str | None) -> Voxline:
    try:
        config = load_client_config(base_url=base_url, api_key=api_key)
    except ValueError as exc:
        _fail(str(exc), EXIT_USAGE)
    if not config.api_key:
        _fail(
            "no API key: pass --api-key, set VOXLINE_API_KEY, or put api_key in "
            f"{client_config_path()}",
            EXIT_AUTH,
        )
    return Voxline(config.base_url, config.api_key)


@contextmanager
def _api(base_url: str | None, api_key: str | None) -> Iterator[Voxline]:
    """A client whose failures end the command with the documented exit code."""
    vx = _client(base_url, api_key)
    try:
        yield vx
    except NotFound as exc:
        _fail(_describe(exc), EXIT_NOT_FOUND)
    except (Unauthorized, Forbidden) as exc:
        _fail(_describe(exc), EXIT_AUTH)
    except VoxlineAPIError as exc:
        _fail(_describe(exc), EXIT_API_ERROR)
    except ConnectionFailed as exc:
        _fail(f"cannot reach {vx.base_url}: {exc}", EXIT_UNREACHABLE)
    finally:
        vx.close()


def _describe(exc: VoxlineAPIError) -> str:
    field = exc.details.get("field")
    where = f" (field {field})" if isinstance(field, str) else ""
    request = f" [request {exc.request_id}]" if exc.request_id else ""
    return f"{exc}{where}{request}"


def _print_json(value: BaseModel | list[BaseModel]) -> None:
    data: Any = (
        [item.model_dump(mode="json") for item in value]
        if isinstance(value, list)
        else value.model_dump(mode="json")
    )
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _when(call: Call) -> str:
    return call.created_at.strftime("%Y-%m-%d %H:%M:%S")


def _print_table(table: Table) -> None:
    # Piped output (grep, less) is not cut at 80 columns; a terminal keeps its width, and
    # ids are never shortened (min_width), other cells wrap instead.
    out.print(table, width=None if out.is_terminal else _PIPE_WIDTH)


def _calls_table(calls: list[Call]) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("ID", no_wrap=True, min_width=_ID_WIDTH)
    for name in ("STATUS", "DIRECTION", "NUMBER", "CREATED", "SECONDS"):
        table.add_column(name, overflow="fold")
    for c in calls:
        seconds = "" if c.duration_seconds is None else str(c.duration_seconds)
        table.add_row(c.id, c.status, c.direction, c.phone_number, _when(c), seconds)
    return table


def _show_call(call: Call) -> None:
    rows = {
        "id": call.id,
        "status": call.status,
        "direction": call.direction,
        "number": call.phone_number,
        "from": call.from_number or "",
        "agent": call.agent_id or "",
        "created": _when(call),
        "duration": "" if call.duration_seconds is None else f"{call.duration_seconds}s",
        "end reason": call.end_reason or "",
        "summary": call.summary or "",
    }
    for label, value in rows.items():
        out.print(f"[bold]{label:<11}[/bold] {value}", soft_wrap=True, highlight=False)


def _variables(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--var")
        found[name] = value
    return found


@calls_app.command("create")
def calls_create(
    agent: Annotated[str, typer.Option("--agent", help="Agent id")],
    to: Annotated[str, typer.Option("--to", help="Destination, E.164")],
    from_number: Annotated[str | None, typer.Option("--from", help="Caller id, E.164")] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Template variable NAME=VALUE (repeatable)")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Reuse to repeat a create safely (default: a new one)")
    ] = None,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Place an outbound call."""
    variables = _variables(var or [])
    with _api(base_url, api_key) as vx:
        call = vx.calls.create(
            agent, to, from_number=from_number, variables=variables, idempotency_key=idempotency_key
        )
    if as_json:
        _print_json(call)
    else:
        out.print(f"{call.id} {call.status}", highlight=False)


@calls_app.command("list")
def calls_list(
    status: Annotated[str | None, typer.Option(help="Status or alias (ended, in-progress)")] = None,
    direction: Annotated[str | None, typer.Option(help="inbound or outbound")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Agent id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Page size")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Calls to skip")] = 0,
    every: Annotated[bool, typer.Option("--all", help="Every page, not just one")] = False,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """List calls, newest first."""
    with _api(base_url, api_key) as vx:
        if every:
            calls = list(
                vx.calls.iter(status=status, direction=direction, agent_id=agent, page_size=100)
            )
            total = len(calls)
        else:
            page = vx.calls.list(
                status=status, direction=direction, agent_id=agent, limit=limit, offset=offset
            )
            calls, total = page.data, page.pagination.total
    if as_json:
        _print_json(list(calls))
        return
    _print_table(_calls_table(calls))
    err.print(f"{len(calls)} of {total} calls", highlight=False)


@calls_app.command("get")
def calls_get(
    call_id: str, as_json: AsJson = False, base_url: BaseUrl = None, api_key: ApiKey = None
) -> None:
    """Show a call."""
    with _api(base_url, api_key) as vx:
        call = vx.calls.get(call_id)
    if as_json:
        _print_json(call)
    else:
        _show_call(call)


@calls_app.command("transcript")
def calls_transcript(
    call_id: str, as_json: AsJson = False, base_url: BaseUrl = None, api_key: ApiKey = None
) -> None:
    """Print what was said on a call, turn by turn."""
    with _api(base_url, api_key) as vx:
        transcript = vx.calls.transcript(call_id)
    if as_json:
        _print_json(transcript)
        return
    for turn in transcript.transcript:
        out.print(
            f"[dim]{turn.timestamp:7.1f}s[/dim] [bold]{turn.speaker:>7}[/bold]  {turn.text}",
            soft_wrap=True,
            highlight=False,
            markup=True,
        )
    if transcript.summary:
        out.print(f"\n[bold]summary[/bold] {transcript.summary}", soft_wrap=True)


@calls_app.command("delete")
def calls_delete(
    call_id: str, as_json: AsJson = False, base_url: BaseUrl = None, api_key: ApiKey = None
) -> None:
    """Delete an ended call with its transcript and recording."""
    with _api(base_url, api_key) as vx:
        deleted = vx.calls.delete(call_id)
    if as_json:
        _print_json(deleted)
    else:
        out.print(f"deleted {deleted.id}", highlight=False)


def follow(
    vx: Voxline,
    call_id: str,
    *,
    interval: float,
    timeout: float | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Call]:
    """Poll the call every ``interval`` seconds, yielding each reading, until it has ended
    (the last reading) or ``timeout`` seconds passed (then the generator just stops)."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        call = vx.calls.get(call_id)
        yield call
        if call.ended or (deadline is not None and clock() >= deadline):
            return
        sleep(interval)


@calls_app.command("watch")
def calls_watch(
    call_id: str,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between polls")] = 2.0,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Give up after this many seconds")
    ] = None,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Follow a call until it ends; the exit code says how it ended (0: completed)."""
    last: Call | None = None
    with _api(base_url, api_key) as vx, err.status(f"{call_id} …") as line:
        for call in follow(vx, call_id, interval=interval, timeout=timeout):
            if last is None or call.status != last.status:
                err.print(f"{call.status}", highlight=False)
            seconds = "" if call.duration_seconds is None else f" {call.duration_seconds}s"
            line.update(f"{call.id} [bold]{call.status}[/bold]{seconds}")
            last = call
    assert last is not None
    if as_json:
        _print_json(last)
    if not last.ended:
        _fail(f"call {last.id} still {last.status} after {timeout}s", EXIT_WATCH_TIMEOUT)
    if last.status != "completed":
        raise typer.Exit(EXIT_CALL_NOT_COMPLETED)


def _agents_table(agents: list[Agent]) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("ID", no_wrap=True, min_width=_ID_WIDTH)
    for name in ("NAME", "STATUS", "MODEL", "VOICE"):
        table.add_column(name, overflow="fold")
    for a in agents:
        table.add_row(a.id, a.name, a.status, a.model, a.voice_id or "")
    return table


def _show_agent(agent: Agent) -> None:
    numbers = [n.phone_number for n in agent.outbound_phone_numbers]
    rows = {
        "id": agent.id,
        "name": agent.name,
        "status": agent.status,
        "model": agent.model,
        "voice": agent.voice_id or "",
        "greeting": agent.greeting or "",
        "max length": agent.max_duration,
        "calls from": ", ".join(numbers),
        "prompt": agent.system_prompt,
    }
    for label, value in rows.items():
        out.print(f"[bold]{label:<11}[/bold] {value}", soft_wrap=True, highlight=False)


Name = Annotated[str | None, typer.Option("--name", help="Agent name")]
Prompt = Annotated[str | None, typer.Option("--prompt", help="System prompt")]
Greeting = Annotated[str | None, typer.Option("--greeting", help="First words said")]
Model = Annotated[str | None, typer.Option("--model", help='LLM model, or "scripted"')]
VoiceId = Annotated[str | None, typer.Option("--voice", help="Voice id (voxline voices)")]
Status = Annotated[str | None, typer.Option("--status", help="active or draft")]


def _fields(**given: str | None) -> dict[str, str]:
    return {name: value for name, value in given.items() if value is not None}


@agents_app.command("list")
def agents_list(
    status: Annotated[str | None, typer.Option(help="active, draft, …")] = None,
    name: Annotated[str | None, typer.Option(help="Part of the name")] = None,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """List every agent."""
    with _api(base_url, api_key) as vx:
        agents = list(vx.agents.iter(status=status, name=name))
    if as_json:
        _print_json(list(agents))
    else:
        _print_table(_agents_table(agents))


@agents_app.command("get")
def agents_get(
    agent_id: str, as_json: AsJson = False, base_url: BaseUrl = None, api_key: ApiKey = None
) -> None:
    """Show an agent."""
    with _api(base_url, api_key) as vx:
        agent = vx.agents.get(agent_id)
    if as_json:
        _print_json(agent)
    else:
        _show_agent(agent)


@agents_app.command("create")
def agents_create(
    name: Annotated[str, typer.Option("--name", help="Agent name")],
    prompt: Annotated[str, typer.Option("--prompt", help="System prompt")],
    greeting: Greeting = None,
    model: Model = None,
    voice: VoiceId = None,
    status: Status = None,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Create an agent and print its id."""
    fields = _fields(greeting=greeting, model=model, voice_id=voice, status=status)
    with _api(base_url, api_key) as vx:
        agent = vx.agents.create(name, prompt, **fields)
    if as_json:
        _print_json(agent)
    else:
        out.print(agent.id, highlight=False)


@agents_app.command("update")
def agents_update(
    agent_id: str,
    name: Name = None,
    prompt: Prompt = None,
    greeting: Greeting = None,
    model: Model = None,
    voice: VoiceId = None,
    status: Status = None,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Change the fields given; the others stay."""
    changes = _fields(
        name=name,
        system_prompt=prompt,
        greeting=greeting,
        model=model,
        voice_id=voice,
        status=status,
    )
    if not changes:
        raise typer.BadParameter("give at least one field to change")
    with _api(base_url, api_key) as vx:
        agent = vx.agents.update(agent_id, **changes)
    if as_json:
        _print_json(agent)
    else:
        out.print(f"updated {agent.id}", highlight=False)


@sandbox_app.command("call-in")
def sandbox_call_in(
    number: Annotated[str, typer.Argument(help="One of your sandbox numbers, E.164")],
    persona: Annotated[
        str | None,
        typer.Option(
            help="Who calls: talker (default), hangs_up, filibuster, silent, interrupter, "
            "wants_person, stop_calling, stopper, backchanneler, echoing"
        ),
    ] = None,
    as_json: AsJson = False,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Have a sandbox persona call one of your sandbox numbers (its inbound agent answers)."""
    with _api(base_url, api_key) as vx:
        call = vx.sandbox.call_in(number, persona=persona)
    if as_json:
        _print_json(call)
    else:
        out.print(f"{call.id} {call.status} {call.direction}", highlight=False)
        if call.context.get("last_error"):
            err.print(str(call.context["last_error"]), highlight=False)
