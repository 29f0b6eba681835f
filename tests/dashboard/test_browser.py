"""The dashboard in a real browser: Debian's chromium driven by Playwright, against the app and
an engine served on a loopback port, sandbox calls at 50x speed.

One browser serves the module; the tests run in order and share its server and data. Each
page is saved as a screenshot under ``tests/artifacts/dashboard/`` (git-ignored).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import struct
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.emulators.loopback import LoopbackServer
from tests.engine.conftest import SCRIPT, TIME_SCALE
from tests.factories import (
    Tenant,
    app_for,
    insert_agent,
    insert_call,
    insert_number,
    insert_turn,
    make_tenant,
)
from voxline.config import Settings, load_settings
from voxline.engine.runner import Engine
from voxline.services.call_timeline import CallTimeline
from voxline.storage.db import Database
from voxline.storage.types import utcnow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).parents[1] / "artifacts" / "dashboard"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="chromium is not installed (make chromium)"
)


@dataclass
class Site:
    url: str
    settings: Settings
    db: Database
    acme: Tenant
    globex: Tenant
    agent_id: str
    recorded_call_id: str
    other_call_id: str


def _stereo_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> None:
    """Agent speaks in the first half (left), the contact in the second (right)."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        syllables = abs(math.sin(2 * math.pi * 3 * t))
        agent = 0.6 * syllables * math.sin(2 * math.pi * 220 * t) if t < seconds / 2 else 0.0
        contact = 0.4 * syllables * math.sin(2 * math.pi * 330 * t) if t >= seconds / 2 else 0.0
        frames += struct.pack("<hh", int(agent * 32767), int(contact * 32767))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames))


async def _recorded_call(db: Database, settings: Settings, tenant: Tenant, agent_id: str) -> str:
    """A finished call with a recording, latency figures, a transcript and agent actions."""
    call_id = str(uuid.uuid4())
    _stereo_wav(settings.recordings_dir / f"{call_id}.wav")
    metrics = {
        "answer_to_first_audio_ms": 640.0,
        "turns": [
            {"vad_wait_ms": 300, "stt_ms": 120, "brain_ms": 410, "tts_ms": 180, "total_ms": 1010},
            {"vad_wait_ms": 280, "stt_ms": 95, "brain_ms": 650, "tts_ms": 150, "total_ms": 1175},
        ],
        "barge_ins": 1,
        "turn_latency_ms": {"p50": 1092.5, "max": 1175.0, "count": 2},
    }
    await insert_call(
        db,
        tenant.org_id,
        agent_id,
        id=call_id,
        recording_path=f"{call_id}.wav",
        metrics=metrics,
        summary="The contact booked a consultation for Tuesday at 10.",
        end_reason="contact_hangup",
        answered_by="human",
        duration_seconds=2,
        cost_micros=4200,
        started_at=utcnow() - timedelta(seconds=2),
        ended_at=utcnow(),
        finalized_at=utcnow(),  # the engine's finalizer leaves it as it is
    )
    for seq, (speaker, text, at) in enumerate(
        [
            ("agent", "Hi Sam, this is Ava.", 0.2),
            ("contact", "Hello, yes I can talk.", 1.1),
            ("agent", "Would Tuesday at 10 work?", 1.6),
        ]
    ):
        await insert_turn(db, call_id, seq, speaker, text, at)
    timeline = CallTimeline(db, call_id, tenant.org_id)
    await timeline.record(
        "tool_call",
        {
            "name": "check_calendar",
            "tool_call_id": "t1",
            "arguments": '{"day": "tuesday"}',
            "result": '{"free": ["10:00"]}',
            "latency_ms": 84.2,
            "outcome": "ok",
        },
    )
    await timeline.record("dtmf", {"digits": "1", "via": "tones"})
    await timeline.record("barge_in", {})
    return call_id


@pytest.fixture(scope="module")
async def site(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> AsyncIterator[Site]:
    root = tmp_path_factory.mktemp("dashboard")
    shutil.copyfile(sqlite_template, root / "voxline.db")
    settings = load_settings(
        data_dir=root / "data",
        database_url=f"sqlite+aiosqlite:///{root / 'voxline.db'}",
        secret_key="test-secret-key",
        rate_limit_per_minute=0,
        log_format="console",
        sandbox_mode="text",
        # Slower than the engine tests' scale, so a call stays live for a few of the list's
        # one-second reads and the browser sees its status change.
        sandbox_time_scale=TIME_SCALE * 5,
        engine_poll_seconds=0.1,
        engine_drain_seconds=0.5,
        placement_backoff_seconds=0.05,
        webhooks_allow_private_networks=True,
    )
    db = Database(settings.resolved_database_url)
    acme = await make_tenant(db, "Acme")
    globex = await make_tenant(db, "Globex")
    agent_id = await insert_agent(
        db,
        acme.org_id,
        name="Ava",
        system_prompt=SCRIPT,
        greeting="Hi {{first_name}}, this is Ava.",
    )
    await insert_number(db, acme.org_id, "+14155551000", outbound_agent_id=agent_id)
    await insert_number(db, acme.org_id, "+14155551001", inbound_agent_id=agent_id)
    recorded = await _recorded_call(db, settings, acme, agent_id)
    globex_agent = await insert_agent(db, globex.org_id)
    other = await insert_call(db, globex.org_id, globex_agent)

    engine = Engine(db, settings)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    server = LoopbackServer(app_for(settings, db=db, engine=engine))
    url = await server.start()
    try:
        yield Site(url, settings, db, acme, globex, agent_id, recorded, other)
    finally:
        await server.stop()
        stop.set()
        await asyncio.wait_for(running, 30)
        await db.dispose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # launch() gives the browser a fresh, temporary profile (user-data dir).
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
async def page(browser: Browser, site: Site) -> AsyncIterator[Page]:
    """One signed-out tab of a fresh context, shared by the module's tests in order."""
    context = await browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = await context.new_page()
    yield tab
    await context.close()


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def test_the_root_leads_to_sign_in_and_a_wrong_key_is_refused(page: Page) -> None:
    await page.goto("/")
    assert page.url.endswith("/dashboard/sign-in")
    await _shot(page, "01-sign-in")
    await page.fill("input[name=api_key]", "vx_" + "x" * 40)
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert page.url.endswith("/dashboard/sign-in")
    await _shot(page, "02-sign-in-refused")


async def test_signing_in_keeps_the_key_out_of_urls_and_scripts(page: Page, site: Site) -> None:
    await page.fill("input[name=api_key]", site.acme.api_key)
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Calls")
    assert page.url.endswith("/dashboard/calls")
    cookies = await page.context.cookies()
    (session,) = [c for c in cookies if c["name"] == "voxline_dashboard"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert site.acme.api_key not in session["value"]
    assert await page.evaluate("document.cookie") == ""


async def test_a_placed_call_turns_completed_live_without_a_reload(page: Page) -> None:
    # Every status the rows take, as the server-sent events swap them in.
    await page.evaluate(
        """() => {
        window.seen = [];
        window.notReloaded = true;
        const note = () => {
          const row = [...document.querySelectorAll('#call-rows tr[data-status]')]
            .find(r => r.textContent.includes('+14155550123'));
          const status = row && row.dataset.status;
          if (status && window.seen.at(-1) !== status) window.seen.push(status);
        };
        new MutationObserver(note).observe(document.querySelector('#call-rows'), {childList: true});
      }"""
    )
    await page.fill("input[name=phone_number]", "+14155550123")
    await page.click("#place-call button[type=submit]")
    await expect(page.get_by_role("status")).to_contain_text("Call placed")
    row = page.locator("#call-rows tr", has_text="+14155550123")
    await expect(row).to_have_attribute("data-status", "completed", timeout=30_000)
    seen = await page.evaluate("window.seen")
    assert seen[-1] == "completed"
    assert seen[0] != "completed", seen  # it was shown while still live
    assert await page.evaluate("window.notReloaded") is True
    await _shot(page, "03-calls")


async def test_the_call_page_shows_transcript_timeline_and_outcome(page: Page) -> None:
    await page.locator("#call-rows tr", has_text="+14155550123").locator("a").click()
    await expect(page.locator("#call-status")).to_have_text("completed")
    await expect(page.locator("#timeline li").first).to_contain_text("queued")
    await expect(page.locator("#timeline")).to_contain_text("completed")
    await expect(page.locator("#transcript li").first).to_contain_text("agent")
    await expect(page.locator("#latency")).to_be_visible()
    await _shot(page, "04-call-live")


async def test_a_recorded_call_plays_and_shows_waveform_latency_and_tools(
    page: Page, site: Site
) -> None:
    await page.goto(f"/dashboard/calls/{site.recorded_call_id}")
    audio = page.locator("#recording audio")
    await expect(audio).to_have_count(1)
    state = await audio.evaluate(
        """async (a) => {
        a.load();
        try { await a.play(); } catch (e) {}
        for (let i = 0; i < 100 && a.readyState < 1; i++) await new Promise(r => setTimeout(r, 50));
        a.pause();
        return {ready: a.readyState, error: a.error && a.error.code, duration: a.duration};
      }"""
    )
    assert state["ready"] >= 1 and state["error"] is None, state
    assert abs(state["duration"] - 2.0) < 0.1
    await expect(page.locator("#call-facts")).to_contain_text("$0.0042")
    await expect(page.locator("svg.wave path.agent")).to_have_count(1)
    await expect(page.locator("svg.wave path.contact")).to_have_count(1)
    assert await page.locator("svg.bars g").count() == 2
    assert await page.locator("svg.bars rect.stage-brain").count() == 2
    await expect(page.locator("#timeline")).to_contain_text("tool check_calendar")
    await expect(page.locator("#timeline")).to_contain_text('{"free": ["10:00"]}')
    await expect(page.locator("#timeline")).to_contain_text("barge-in")
    await expect(page.locator("#transcript")).to_contain_text("Would Tuesday at 10 work?")
    await expect(page.locator("#transcript")).to_contain_text("booked a consultation")
    await _shot(page, "05-call-recorded")


async def test_another_organizations_call_is_not_found(page: Page, site: Site) -> None:
    response = await page.goto(f"/dashboard/calls/{site.other_call_id}")
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_have_text("Not found")
    await _shot(page, "06-not-found")


async def test_agents_numbers_and_webhooks_pages(page: Page, site: Site) -> None:
    await page.goto("/dashboard/agents")
    await expect(page.locator("table")).to_contain_text("Ava")
    await _shot(page, "07-agents")
    await page.get_by_role("link", name="Ava").click()
    await expect(page.locator("pre.prompt")).to_contain_text("booking solar consultations")
    await _shot(page, "08-agent")
    await page.goto("/dashboard/numbers")
    await expect(page.locator("table")).to_contain_text("+14155551001")
    await _shot(page, "09-numbers")
    await page.goto("/dashboard/webhooks")
    await _shot(page, "10-webhooks")


async def test_signing_out_ends_the_session(page: Page) -> None:
    await page.click("form.sign-out button")
    assert page.url.endswith("/dashboard/sign-in")
    await page.goto("/dashboard/calls")
    assert page.url.endswith("/dashboard/sign-in")
