"""Launch and context: host mapping rules, and a scan that does not look like automation."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import async_playwright

from skimguard.capture.browser import host_resolver_rules, launch_args, launch_browser, new_scan_context
from skimguard.config import Identity
from skimguard.testing.hostile import HostileServer


def test_host_resolver_rules() -> None:
    rules = host_resolver_rules({"shop.test": "127.0.0.1", "cdn.vendor.test": "127.0.0.1"})
    assert rules == "MAP cdn.vendor.test 127.0.0.1, MAP shop.test 127.0.0.1"
    blocked = host_resolver_rules({"shop.test": "127.0.0.1"}, block_unmapped=True)
    assert blocked == "MAP shop.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE localhost"


def test_launch_args_keep_chromium_quiet_and_in_one_process_per_page() -> None:
    args = launch_args({"shop.test": "127.0.0.1"})
    for flag in ("--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-blink-features=AutomationControlled"):
        assert flag in args
    assert "--host-resolver-rules=MAP shop.test 127.0.0.1" in args
    assert not any(a.startswith("--host-resolver-rules") for a in launch_args({}))


@pytest.mark.browser
def test_scan_context_hides_automation_and_speaks_japanese() -> None:
    async def run() -> list[object]:
        with HostileServer() as server:
            async with async_playwright() as pw:
                browser = await launch_browser(pw, server.hosts, block_unmapped=True)
                try:
                    context, user_agent = await new_scan_context(browser, Identity())
                    page = await context.new_page()
                    await page.goto(server.url("/ok"))
                    values: list[object] = await page.evaluate(
                        "[navigator.webdriver, navigator.userAgent, navigator.language,"
                        " Intl.DateTimeFormat().resolvedOptions().timeZone]"
                    )
                    return [*values, user_agent]
                finally:
                    await browser.close()

    webdriver, agent, language, zone, configured = asyncio.run(run())
    assert webdriver is False
    assert agent == configured and "Headless" not in str(agent) and "Chrome/" in str(agent)
    assert language == "ja-JP" and zone == "Asia/Tokyo"


@pytest.mark.browser
def test_a_mobile_english_identity_looks_like_a_phone() -> None:
    async def run() -> list[object]:
        with HostileServer() as server:
            async with async_playwright() as pw:
                browser = await launch_browser(pw, server.hosts, block_unmapped=True)
                try:
                    identity = Identity.model_validate({"device": "mobile", "locale": "en-US", "timezone": "UTC"})
                    context, user_agent = await new_scan_context(browser, identity)
                    page = await context.new_page()
                    await page.goto(server.url("/ok"))
                    values: list[object] = await page.evaluate(
                        "[navigator.userAgent, navigator.language, navigator.maxTouchPoints > 0,"
                        " 'ontouchstart' in window, screen.width, devicePixelRatio,"
                        " matchMedia('(pointer: coarse)').matches]"
                    )
                    return [*values, user_agent]
                finally:
                    await browser.close()

    agent, language, touch_points, touch_events, screen_width, ratio, coarse, configured = asyncio.run(run())
    assert agent == configured and "Android" in str(agent) and "Mobile" in str(agent)
    assert (language, touch_points, touch_events, screen_width, ratio, coarse) == ("en-US", True, True, 390, 3, True)
