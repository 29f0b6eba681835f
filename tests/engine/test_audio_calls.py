"""An audio-mode sandbox call end to end: the API, the engine, the real speech models, the
transcript from speech-to-text, the latency figures and the two-voice recording."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API
from tests.engine.conftest import AUDIO_SANDBOX, Phone
from tests.factories import Tenant, app_for, insert_agent, insert_number
from tests.voice.speech import (
    ANSWER_TO_FIRST_AUDIO_MS_AT_MOST,
    TALKER_KEYWORDS,
    TALKER_WER_AT_MOST,
    channel_levels,
    misheard,
)
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.storage.db import Database
from voxline.telephony.sandbox.personas import persona_for
from voxline.voice import session as session_module
from voxline.voice.ticker import MediaTicker, shared_ticker


@pytest.fixture
async def audio_phone(
    db: Database, settings: Settings, tenant: Tenant, request: pytest.FixtureRequest
) -> AsyncIterator[Phone]:
    # Indirectly parametrized with a media block (ms) and the media ticker's slots; by
    # default the settings' (40 ms, two slots).
    block_ms, phases = getattr(request, "param", (settings.media_block_ms, settings.media_phases))
    audio_settings = settings.model_copy(
        update={**AUDIO_SANDBOX, "media_block_ms": block_ms, "media_phases": phases}
    )
    engine = Engine(db, audio_settings)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    app = app_for(audio_settings, db=db, engine=engine)
    agent_id = await insert_agent(
        db,
        tenant.org_id,
        system_prompt="- I'm calling to confirm your appointment on {{appointment_time}}.",
        greeting="Hi {{first_name}}, this is Ava from Voxline Dental.",
        voice_id="espeak-en-us",
    )
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent_id)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://voxline.test") as http:
        yield Phone(http, tenant, agent_id)
    stop.set()
    await asyncio.wait_for(task, 30)


# The audio path does not depend on the database (the sandbox's calls on PostgreSQL are
# covered in text mode): one backend. Sessions in 20 ms frames and in 40 ms media blocks
# (VOXLINE_MEDIA_BLOCK_MS) on a ticker of four slots (VOXLINE_MEDIA_PHASES) hold the same
# conversation.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("audio_phone", [(20, 1), (40, 4)], indirect=True, ids=["20ms", "40ms-4"])
async def test_audio_call_has_stt_transcript_metrics_and_a_two_voice_recording(
    audio_phone: Phone,
    settings: Settings,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The session's media clock joins the ticker of the settings' period and slots.
    tickers: list[tuple[int, float]] = []

    def noted(*args: Any, **kwargs: Any) -> MediaTicker:
        ticker = shared_ticker(*args, **kwargs)
        tickers.append((ticker.phases, ticker.period))
        return ticker

    monkeypatch.setattr(session_module, "shared_ticker", noted)
    created = await audio_phone.call(
        "+14155550100",
        variables={"first_name": "Jane", "appointment_time": "Thursday at two"},
    )
    assert created.status_code == 201, created.text
    call_id = created.json()["data"]["id"]
    call = await audio_phone.wait_finished(call_id, within=120)
    assert call["status"] == "completed"

    response = await audio_phone.client.get(
        f"{API}/calls/{call_id}/transcript", headers=audio_phone.tenant.headers
    )
    turns = response.json()["data"]["transcript"]
    assert turns[0]["text"] == "Hi Jane, this is Ava from Voxline Dental."
    heard = " ".join(t["text"] for t in turns if t["speaker"] == "contact")
    spoken = " ".join(persona_for("+14155550100").lines)
    assert misheard(spoken, TALKER_KEYWORDS, heard, TALKER_WER_AT_MOST) == [], heard
    other = " ".join(persona_for("+14155550106").lines)
    assert misheard(other, ("weather", "garden"), heard, TALKER_WER_AT_MOST) != [], heard

    metrics = call["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["answer_to_first_audio_ms"] < ANSWER_TO_FIRST_AUDIO_MS_AT_MOST
    assert metrics["turns"] and all("stt_ms" in t for t in metrics["turns"])

    recording = await audio_phone.client.get(
        f"{API}/calls/{call_id}/recording", headers=audio_phone.tenant.headers
    )
    assert recording.status_code == 200, recording.text
    url = httpx.URL(recording.json()["data"]["recording_url"])
    audio = await audio_phone.client.get(url.raw_path.decode())
    assert audio.status_code == 200
    assert audio.headers["content-type"].startswith("audio/")
    path = tmp_path / "call.wav"
    path.write_bytes(audio.content)
    seconds, agent_level, contact_level = channel_levels(path)
    assert seconds > 5
    assert agent_level > 300 and contact_level > 300
    block_ms, phases = request.node.callspec.params["audio_phone"]
    assert tickers == [(phases, block_ms / 1000)]


async def test_recording_disabled_leaves_no_recording(audio_phone: Phone) -> None:
    created = await audio_phone.call("+14155550105", call_settings={"recording_enabled": False})
    call_id = created.json()["data"]["id"]
    await audio_phone.wait_finished(call_id, within=60)
    recording = await audio_phone.client.get(
        f"{API}/calls/{call_id}/recording", headers=audio_phone.tenant.headers
    )
    assert recording.status_code == 404
