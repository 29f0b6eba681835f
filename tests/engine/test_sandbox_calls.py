"""Every sandbox behaviour end to end through the public API and the running engine."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tests.conftest import API
from tests.engine.conftest import Phone, money
from tests.telephony.placement import refused_call
from voxline.services import billing
from voxline.storage.db import Database
from voxline.storage.tables import credit_ledger


async def transcript(phone: Phone, call_id: str) -> list[dict[str, object]]:
    response = await phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=phone.tenant.headers
    )
    assert response.status_code == 200, response.text
    turns: list[dict[str, object]] = response.json()["data"]["transcript"]
    return turns


async def test_talker_completes_with_transcript_summary_and_cost(
    phone: Phone, db: Database
) -> None:
    created = await phone.call(
        "+14155550100",
        variables={"first_name": "Jane", "company": "Sunny Co", "appointment_time": "2pm Thursday"},
    )
    assert created.status_code == 201, created.text
    call_id = created.json()["data"]["id"]
    call = await phone.wait_finished(call_id)

    assert call["status"] == "completed"
    assert call["end_reason"] == "agent_hangup"
    assert call["answered_by"] == "human"
    assert call["started_at"] and call["ended_at"]
    assert isinstance(call["duration_seconds"], int)
    assert "in_progress" in call["_seen"] or call["_seen"][0] == "completed"  # type: ignore[operator]
    turns = await transcript(phone, call_id)
    assert turns[0] == {
        "speaker": "agent",
        "text": "Hi Jane, this is Ava.",
        "timestamp": turns[0]["timestamp"],
    }
    agent_lines = [t["text"] for t in turns if t["speaker"] == "agent"]
    assert "I'm calling about your free solar consultation, Jane." in agent_lines
    assert "Would 2pm Thursday work for a short visit?" in agent_lines
    assert any(t["speaker"] == "contact" for t in turns)
    assert "answered and completed" in str(call["summary"])
    assert "goodbye" in str(call["summary"]).lower()

    async with db.read() as conn:
        rows = (
            await conn.execute(sa.select(credit_ledger).where(credit_ledger.c.call_id == call_id))
        ).all()
        balance = await billing.balance(conn, phone.tenant.org_id)
    assert len(rows) == 1
    assert Decimal(10) - balance == money(call["cost_usd"])


async def test_busy(phone: Phone) -> None:
    call = await phone.wait_finished((await phone.call("+14155550101")).json()["data"]["id"])
    assert call["status"] == "busy"
    assert call["end_reason"] == "busy"
    assert call["duration_seconds"] == 0
    assert money(call["cost_usd"]) == 0


async def test_no_answer_rings_until_join_timeout(phone: Phone) -> None:
    created = await phone.call("+14155550102", call_settings={"join_timeout": "20s"})
    call = await phone.wait_finished(created.json()["data"]["id"])
    assert call["status"] == "no_answer"
    assert call["end_reason"] == "join_timeout"
    assert "ringing" in call["_seen"]  # type: ignore[operator]


async def test_voicemail(phone: Phone) -> None:
    call = await phone.wait_finished((await phone.call("+14155550103")).json()["data"]["id"])
    assert call["status"] == "voicemail"
    assert call["answered_by"] == "machine"
    assert call["end_reason"] == "voicemail"
    assert "voicemail" in str(call["summary"])


async def test_not_in_service_fails_with_provider_error(phone: Phone) -> None:
    created = await phone.call("+14155550104")
    call = await refused_call(phone.client, created, headers=phone.tenant.headers)
    call = await phone.wait_finished(call["id"])
    assert call["status"] == "failed"
    assert call["end_reason"] == "provider_error"
    assert "not in service" in str(call["context"]["last_error"])  # type: ignore[index]


async def test_hangs_up_at_once(phone: Phone) -> None:
    call = await phone.wait_finished((await phone.call("+14155550105")).json()["data"]["id"])
    assert call["status"] == "completed"
    assert call["end_reason"] == "contact_hangup"


async def test_talks_past_max_duration(phone: Phone) -> None:
    created = await phone.call("+14155550106", call_settings={"max_duration": "30s"})
    call = await phone.wait_finished(created.json()["data"]["id"])
    assert call["status"] == "completed"
    assert call["end_reason"] == "max_duration"


async def test_silent_callee(phone: Phone) -> None:
    call_id = (await phone.call("+14155550107")).json()["data"]["id"]
    call = await phone.wait_finished(call_id)
    assert call["status"] == "completed"
    assert call["end_reason"] == "agent_hangup"
    turns = await transcript(phone, call_id)
    assert {t["speaker"] for t in turns} == {"agent"}
    assert any(t["text"] == "Are you still there?" for t in turns)


async def test_interrupter_cuts_agent_turns(phone: Phone) -> None:
    call_id = (await phone.call("+14155550108", variables={"first_name": "Jane"})).json()["data"][
        "id"
    ]
    call = await phone.wait_finished(call_id)
    assert call["status"] == "completed"
    turns = await transcript(phone, call_id)
    full_line = "I'm calling about your free solar consultation, Jane."
    agent_lines = [str(t["text"]) for t in turns if t["speaker"] == "agent"]
    assert full_line not in agent_lines
    cut = [line for line in agent_lines if line and full_line.startswith(line)]
    assert cut, agent_lines
    position = agent_lines.index(cut[0])
    assert turns[[t["text"] for t in turns].index(cut[0]) + 1]["speaker"] == "contact"
    assert position >= 1


async def test_transcription_disabled_stores_no_transcript(phone: Phone) -> None:
    created = await phone.call("+14155550100", call_settings={"transcription_enabled": False})
    call_id = created.json()["data"]["id"]
    call = await phone.wait_finished(call_id)
    assert call["status"] == "completed"
    response = await phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=phone.tenant.headers
    )
    assert response.status_code == 404


async def test_the_calls_greeting_override_wins(phone: Phone) -> None:
    created = await phone.call(
        "+14155550100",
        variables={"first_name": "Jane"},
        call_settings={"greeting": "Good morning {{first_name}}, Ava again."},
    )
    call_id = created.json()["data"]["id"]
    await phone.wait_finished(call_id)
    turns = await transcript(phone, call_id)
    assert turns[0]["text"] == "Good morning Jane, Ava again."
