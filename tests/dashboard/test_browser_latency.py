"""The latency card of a real audio sandbox call, in Debian's chromium: an engine with the
local speech models places the call (speeded up), then the call page shows, per turn, the gap
measured on the recording and a stage bar that adds up to it, and the call's p50 and p90 gap,
all equal to the call's stored ``metrics``.

The page is saved as a screenshot under ``tests/artifacts/dashboard/``.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from playwright.async_api import async_playwright, expect

from tests.dashboard.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.emulators.loopback import LoopbackServer
from tests.engine.conftest import AUDIO_SANDBOX, Phone
from tests.factories import Tenant, app_for, insert_agent, insert_number
from voxline.config import Settings
from voxline.dashboard.latency import STAGES
from voxline.engine.runner import Engine
from voxline.storage.db import Database

pytestmark = [
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium is not installed"),
    # The audio path does not depend on the database: one backend keeps the suite quicker.
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


@pytest.fixture
async def served(db: Database, settings: Settings, tenant: Tenant) -> AsyncIterator[Phone]:
    """The API, the dashboard and an engine placing audio sandbox calls, on a loopback port."""
    audio = settings.model_copy(update=AUDIO_SANDBOX)
    agent_id = await insert_agent(
        db,
        tenant.org_id,
        name="Ava",
        system_prompt="- I'm calling to confirm your appointment on {{appointment_time}}.",
        greeting="Hi {{first_name}}, this is Ava from Voxline Dental.",
        voice_id="espeak-en-us",
    )
    await insert_number(db, tenant.org_id, "+14155551000", outbound_agent_id=agent_id)
    engine = Engine(db, audio)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    server = LoopbackServer(app_for(audio, db=db, engine=engine))
    url = await server.start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield Phone(http, tenant, agent_id)
    finally:
        await server.stop()
        stop.set()
        await asyncio.wait_for(running, 30)


def _ms(value: float) -> str:
    return f"{round(value)} ms"


async def test_the_call_page_shows_the_gap_heard_and_stages_that_add_up_to_it(
    served: Phone,
) -> None:
    created = await served.call(
        "+14155550100", variables={"first_name": "Jane", "appointment_time": "Thursday at two"}
    )
    assert created.status_code == 201, created.text
    call_id = created.json()["data"]["id"]
    call = await served.wait_finished(call_id, within=120)
    metrics = call["metrics"]
    assert isinstance(metrics, dict)
    turns = metrics["turns"]
    wire = [t["wire_gap_ms"] for t in turns if t["wire_gap_ms"] is not None]
    assert wire, metrics  # the audio call measured its gaps on the recording

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(
            base_url=str(served.client.base_url), viewport={"width": 1280, "height": 1000}
        )
        context.set_default_timeout(15_000)
        page = await context.new_page()
        await page.goto("/dashboard/sign-in")
        await page.fill("input[name=api_key]", served.tenant.api_key)
        await page.click("button[type=submit]")
        await expect(page.locator("h1")).to_have_text("Calls")
        await page.goto(f"/dashboard/calls/{call_id}")

        await expect(page.locator("#gap-p50")).to_have_text(
            f"p50 {_ms(metrics['wire_gap_ms']['p50'])}"
        )
        await expect(page.locator("#gap-p90")).to_have_text(
            f"p90 {_ms(float(np.percentile(wire, 90)))}"
        )
        assert await page.locator("svg.bars g[data-turn]").count() == len(turns)
        for number, turn in enumerate(turns, start=1):
            row = page.locator(f"#turn-{number}")
            bar = page.locator(f"svg.bars g[data-turn='{number}']")
            gap = turn["wire_gap_ms"]
            if gap is None:
                # Said so, and drawn from the pipeline's four stages as before.
                await expect(row).to_have_attribute("data-on-wire", "false")
                await expect(row).to_contain_text("no gap was measured on a recording")
                continue
            await expect(row).to_have_attribute("data-on-wire", "true")
            await expect(row.locator(".figure.gap")).to_have_text(_ms(gap))
            await expect(bar.locator("text.headline")).to_have_text(_ms(gap))
            drawn = await bar.evaluate(
                """(g) => {
                const ms = (sel) => [...g.querySelectorAll(sel)]
                  .reduce((sum, r) => sum + parseFloat(r.dataset.ms), 0);
                const px = (sel) => [...g.querySelectorAll(sel)]
                  .reduce((sum, r) => sum + parseFloat(r.getAttribute('width')), 0);
                const widths = [...g.querySelectorAll('rect[class^=stage-]')]
                  .map(r => parseFloat(r.getAttribute('width')));
                return {filled: ms('rect[class^=stage-]'), taken: ms('rect.taken-back'),
                        filledPx: px('rect[class^=stage-]'), takenPx: px('rect.taken-back'),
                        narrowest: Math.min(...widths)};
              }"""
            )
            # The solid bar is the gap: filled segments less what negative stages take back,
            # in milliseconds and in pixels alike; no segment has a negative width.
            assert abs(drawn["filled"] - drawn["taken"] - gap) < 1.0, (turn, drawn)
            scale = drawn["filledPx"] / drawn["filled"]
            assert abs(drawn["filledPx"] - drawn["takenPx"] - gap * scale) < 1.0, drawn
            assert drawn["narrowest"] > 0
            # Each negative stage is a note with its figure, never a bar of its own.
            notes = await row.locator(".note").all_inner_texts()
            for key, label in STAGES:
                value = turn.get(key)
                if isinstance(value, int | float) and value < 0:
                    assert f"{label} {_ms(value)}" in notes, (notes, turn)
                    assert await bar.locator(f"rect.stage-{key.removesuffix('_ms')}").count() == 0
        await page.screenshot(path=ARTIFACTS / "13-call-latency.png", full_page=True)
        await browser.close()
