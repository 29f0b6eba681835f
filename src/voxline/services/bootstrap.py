"""``voxline bootstrap``: a demo organization ready to place a first call.

The demo is created once and remembered in ``<data dir>/bootstrap.json`` (mode 0600, it
holds the demo API key), so running the command again prints the same demo. If the database
no longer has a remembered part (say it was reset), that part is created again.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from voxline.config import Settings
from voxline.errors import Conflict, NotFound, Unauthorized
from voxline.services import agents, billing, keys, numbers, orgs
from voxline.storage.db import Database
from voxline.telephony.sandbox import numbers as sandbox_numbers

DEMO_ORG_NAME = "Voxline Demo"
DEMO_CREDIT = Decimal("10")
DEMO_AGENT = agents.AgentDraft(
    name="Ava (demo)",
    description="Confirms dental appointments; created by voxline bootstrap.",
    system_prompt=(
        "You are Ava, a friendly assistant at Voxline Dental calling to confirm appointments.\n"
        "- I'm calling to confirm your appointment on {{appointment_time}}.\n"
        "- Wonderful. Please arrive ten minutes early and bring your insurance card."
    ),
    greeting="Hi {{first_name}}, this is Ava from Voxline Dental.",
)
FIRST_CALL_DESTINATION = "+14155550100"


@dataclass(frozen=True, slots=True)
class Demo:
    org_id: str
    api_key: str
    agent_id: str
    phone_number: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _state_path(settings: Settings) -> Path:
    return settings.data_dir / "bootstrap.json"


def _load_state(settings: Settings) -> dict[str, Any]:
    path = _state_path(settings)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(settings: Settings, demo: Demo, number_id: str) -> None:
    path = _state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**demo.as_dict(), "number_id": number_id}, indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


async def _org(db: Database, state: dict[str, Any]) -> str:
    if state.get("org_id"):
        try:
            return (await orgs.get_org(db, state["org_id"])).id
        except NotFound:
            pass
    org = await orgs.create_org(db, DEMO_ORG_NAME)
    await billing.set_balance(db, org.id, DEMO_CREDIT)
    return org.id


async def _key(db: Database, org_id: str, state: dict[str, Any]) -> str:
    remembered = state.get("api_key")
    if isinstance(remembered, str):
        try:
            if (await keys.authenticate_key(db, remembered)).org_id == org_id:
                return remembered
        except Unauthorized:
            pass
    return (await keys.create_key(db, org_id, "demo")).secret


async def _agent(db: Database, settings: Settings, org_id: str, state: dict[str, Any]) -> str:
    if state.get("agent_id"):
        try:
            return (await agents.get_agent(db, org_id, state["agent_id"])).id
        except NotFound:
            pass
    created = await agents.create_agent(
        db, settings, org_id, DEMO_AGENT, render=lambda agent: {"id": agent.id}
    )
    return str(created.body["id"])


async def _number(
    db: Database, settings: Settings, org_id: str, state: dict[str, Any]
) -> tuple[str, str]:
    if state.get("number_id"):
        try:
            number = await numbers.get_number(db, org_id, state["number_id"])
            return number.id, number.phone_number
        except NotFound:
            pass
    prefix = sandbox_numbers.range_prefix(sandbox_numbers.DEFAULT_AREA_CODE)
    for line in range(sandbox_numbers.FIRST_LINE, sandbox_numbers.LAST_LINE + 1):
        candidate = f"{prefix}{line % 1000:03d}"
        try:
            number = await numbers.purchase_number(
                db, settings, org_id, candidate, friendly_name="Demo line"
            )
        except Conflict:
            continue
        return number.id, number.phone_number
    raise Conflict("Every sandbox number in the default area code is taken")


async def bootstrap(db: Database, settings: Settings) -> Demo:
    """Create what is missing of the demo and return it."""
    state = _load_state(settings)
    org_id = await _org(db, state)
    api_key = await _key(db, org_id, state)
    agent_id = await _agent(db, settings, org_id, state)
    number_id, phone_number = await _number(db, settings, org_id, state)
    for direction in ("inbound", "outbound"):
        await numbers.assign_number(db, org_id, number_id, agent_id, direction)
    demo = Demo(org_id=org_id, api_key=api_key, agent_id=agent_id, phone_number=phone_number)
    _save_state(settings, demo, number_id)
    return demo


def first_call_curl(settings: Settings, demo: Demo) -> str:
    """A ready-to-paste command that places a first call through the sandbox."""
    body = json.dumps(
        {
            "agent_id": demo.agent_id,
            "phone_number": FIRST_CALL_DESTINATION,
            "variables": {"first_name": "Jane", "appointment_time": "Thursday at 2pm"},
        }
    )
    return (
        f"curl -X POST {settings.base_url}/api/public/v1/calls \\\n"
        f'  -H "Authorization: Bearer {demo.api_key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d {shlex.quote(body)}\n\n"
        "# then, with the id it returns:\n"
        f'# curl -H "Authorization: Bearer {demo.api_key}" '
        f"{settings.base_url}/api/public/v1/calls/CALL_ID/transcript"
    )
