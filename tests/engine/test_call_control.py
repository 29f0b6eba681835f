"""Built-in tools through the engine on the sandbox (text mode): the scripted brain
transfers a caller who asks for a person, presses the key of a phone menu's option and
leaves a voicemail after the beep; each ends the call as it should and is on its timeline.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.conftest import API
from tests.engine.conftest import Phone
from voxline.engine.runner import Engine
from voxline.voice.brain.scripted import TRANSFER_FAILED_REPLY

ASKS_FOR_PERSON = "+14155550110"
PHONE_MENU = "+14155550109"
VOICEMAIL = "+14155550103"
FRONT_DESK = "+14155550142"
NOBODY_ANSWERS = "+14155550111"
MESSAGE = "Hi {{first_name}}, this is Ava from Voxline Dental. Please call us back. Goodbye!"


async def enable(phone: Phone, tools: list[Any], prompt: str | None = None) -> None:
    body: dict[str, Any] = {"tools": tools}
    if prompt is not None:
        body["system_prompt"] = prompt
    response = await phone.client.patch(
        f"{API}/agents/{phone.agent_id}", json=body, headers=phone.tenant.headers
    )
    assert response.status_code == 200, response.text


async def timeline(phone: Phone, call_id: str) -> list[dict[str, Any]]:
    response = await phone.client.get(f"{API}/calls/{call_id}/events", headers=phone.tenant.headers)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]["events"]
    return events


async def transcript(phone: Phone, call_id: str) -> list[tuple[str, str]]:
    response = await phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=phone.tenant.headers
    )
    return [(t["speaker"], t["text"]) for t in response.json()["data"]["transcript"]]


def transfer_to(destination: str) -> dict[str, Any]:
    return {
        "name": "transfer_call",
        "overrides": {
            "destinations": [{"to": destination, "description": "the front desk"}],
            "message": "Of course, let me put you through.",
        },
    }


async def test_a_caller_who_asks_for_a_person_is_transferred_and_stays_bridged(
    phone: Phone, engine: Engine
) -> None:
    await enable(phone, [transfer_to(FRONT_DESK)])
    created = await phone.call(ASKS_FOR_PERSON, variables={"first_name": "Jane"})
    call_id = created.json()["data"]["id"]
    call = await phone.wait_finished(call_id)

    assert call["status"] == "completed"
    assert call["end_reason"] == "transferred"
    context: Any = call["context"]
    assert context["transfer"]["to"] == FRONT_DESK
    assert context["transfer"]["status"] == "completed"
    said = await transcript(phone, call_id)
    assert ("agent", "Of course, let me put you through.") in said
    # The caller talks with the destination after the agent left; nobody hung up on them.
    provider_call_id = next(
        pid
        for pid, simulated in engine.sandbox.calls.items()
        if simulated.request.call_id == call_id
    )
    bridged = engine.sandbox.transfers[provider_call_id]
    assert bridged.destination == FRONT_DESK
    # The bridged conversation goes on after Voxline's part of the call was finalized.
    for _ in range(200):
        if bridged.ended_by is not None:
            break
        await asyncio.sleep(0.05)
    assert any("Sam at the front desk" in text for _, text in bridged.lines)
    assert bridged.ended_by == "contact"  # the caller said goodbye; nobody hung up on them
    events = await timeline(phone, call_id)
    types = [e["type"] for e in events]
    assert types.index("call.started") < types.index("call.tool_called")
    assert types.index("call.started") < types.index("call.transferred")
    assert "call.ended" in types
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    tool = next(e for e in events if e["type"] == "call.tool_called")
    assert tool["data"]["name"] == "transfer_call"
    assert tool["data"]["outcome"] == "ok"


async def test_a_transfer_nobody_answers_brings_the_agent_back(phone: Phone) -> None:
    await enable(phone, [transfer_to(NOBODY_ANSWERS)])
    created = await phone.call(ASKS_FOR_PERSON, variables={"first_name": "Jane"})
    call_id = created.json()["data"]["id"]
    call = await phone.wait_finished(call_id)

    assert call["status"] == "completed"
    assert call["end_reason"] != "transferred"
    context: Any = call["context"]
    assert "transfer" not in context
    assert ("agent", TRANSFER_FAILED_REPLY) in await transcript(phone, call_id)
    events = await timeline(phone, call_id)
    failed = [e for e in events if e["type"] == "call.transferred"]
    assert failed and failed[0]["data"]["status"] == "failed"


async def test_the_agent_presses_the_key_of_the_menu_option_it_wants(phone: Phone) -> None:
    await enable(
        phone,
        ["send_dtmf"],
        prompt="You are Ava. At a phone menu, choose billing.\n- I have a question.",
    )
    created = await phone.call(PHONE_MENU, variables={"first_name": "Jane"})
    call_id = created.json()["data"]["id"]
    await phone.wait_finished(call_id)

    contact = [text for speaker, text in await transcript(phone, call_id) if speaker == "contact"]
    assert any("reached billing" in text for text in contact)
    assert not any("reached appointments" in text for text in contact)
    keys = [e for e in await timeline(phone, call_id) if e["type"] == "call.dtmf_sent"]
    assert [k["data"]["digits"] for k in keys] == ["2"]
    assert keys[0]["data"]["via"] == "tones"  # the sandbox takes keys in the audio


async def test_without_send_dtmf_the_menu_is_not_navigated(phone: Phone) -> None:
    await enable(phone, [], prompt="You are Ava. At a phone menu, choose billing.")
    created = await phone.call(PHONE_MENU, variables={"first_name": "Jane"})
    call_id = created.json()["data"]["id"]
    await phone.wait_finished(call_id)

    contact = [text for speaker, text in await transcript(phone, call_id) if speaker == "contact"]
    assert not any("reached" in text for text in contact)
    assert not [e for e in await timeline(phone, call_id) if e["type"] == "call.dtmf_sent"]


@pytest.mark.parametrize("drop", [True, False])
async def test_a_voicemail_message_is_left_after_the_beep(phone: Phone, drop: bool) -> None:
    if drop:
        await enable(phone, [{"name": "leave_voicemail", "overrides": {"message": MESSAGE}}])
    created = await phone.call(VOICEMAIL, variables={"first_name": "Jane"})
    call_id = created.json()["data"]["id"]
    call = await phone.wait_finished(call_id)

    assert call["status"] == "voicemail"
    assert call["end_reason"] == "voicemail"
    assert call["answered_by"] == "machine"
    if drop:
        said = await transcript(phone, call_id)
        assert said[-1] == ("agent", MESSAGE.replace("{{first_name}}", "Jane"))
        left = [e for e in await timeline(phone, call_id) if e["type"] == "call.tool_called"]
        assert [e["data"]["name"] for e in left] == ["leave_voicemail"]
        assert json.loads(left[0]["data"]["result"]) == {"left": True, "beep_heard": True}


async def test_the_timeline_of_another_organizations_call_is_not_found(
    phone: Phone, other_tenant: Any
) -> None:
    created = await phone.call("+14155550105")
    call_id = created.json()["data"]["id"]
    await phone.wait_finished(call_id)

    mine = await phone.client.get(f"{API}/calls/{call_id}/events", headers=phone.tenant.headers)
    theirs = await phone.client.get(f"{API}/calls/{call_id}/events", headers=other_tenant.headers)
    unknown = await phone.client.get(
        f"{API}/calls/00000000-0000-4000-8000-000000000000/events", headers=phone.tenant.headers
    )
    assert mine.status_code == 200
    assert next(e["type"] for e in mine.json()["data"]["events"]) == "call.queued"
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "not_found"
    assert unknown.status_code == 404


async def test_barge_ins_are_on_the_timeline(phone: Phone) -> None:
    talks_over = await phone.call("+14155550108", variables={"first_name": "Jane"})
    polite = await phone.call("+14155550100", variables={"first_name": "Jane"})
    for created, expect_barge_in in ((talks_over, True), (polite, False)):
        call_id = created.json()["data"]["id"]
        await phone.wait_finished(call_id)
        barge_ins = [e for e in await timeline(phone, call_id) if e["type"] == "call.barge_in"]
        assert bool(barge_ins) is expect_barge_in
