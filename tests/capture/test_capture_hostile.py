"""Hostile pages end within their time limits, with a partial result and a problem; the next
capture in the same browser still works."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import async_playwright

from skimguard.canary import new_canary
from skimguard.capture.browser import launch_browser
from skimguard.capture.journey import run_journey
from skimguard.config import Site, config_from_dict
from skimguard.models import Capture, ScanStatus, ScriptKind
from skimguard.testing.hostile import HostileServer

pytestmark = pytest.mark.browser

STEP_LIMIT = 4.0
JOURNEY_LIMIT = 20.0


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


def site_for(
    server: HostileServer, path: str, extra_steps: list[dict[str, object]] | None = None, **overrides: object
) -> Site:
    data = {
        "name": "hostile",
        "base_url": server.url("/"),
        "hosts": server.hosts,
        "block_unmapped_hosts": True,
        "step_timeout": STEP_LIMIT,
        "journey_timeout": JOURNEY_LIMIT,
        "dwell": 0.3,
        "journeys": [{"name": "j", "steps": [{"goto": path, "page": "target"}, *(extra_steps or [])]}],
        **overrides,
    }
    return config_from_dict({"sites": [data]}).sites[0]


def capture_then_ok(server: HostileServer, site: Site) -> tuple[Capture, Capture, float]:
    """Capture ``site``'s journey, then the harmless /ok page in the same browser."""
    ok_site = site_for(server, "/ok")

    async def run() -> tuple[Capture, Capture, float]:
        async with async_playwright() as pw:
            browser = await launch_browser(pw, server.hosts, block_unmapped=True)
            try:
                card = new_canary(datetime.now(UTC))
                started = time.monotonic()
                hostile_capture = await run_journey(browser, site, site.journeys[0], card)
                elapsed = time.monotonic() - started
                ok_capture = await run_journey(browser, ok_site, ok_site.journeys[0], card)
                return hostile_capture, ok_capture, elapsed
            finally:
                await browser.close()

    return asyncio.run(run())


def assert_next_scan_works(ok: Capture) -> None:
    assert ok.status is ScanStatus.OK, ok.problems
    kinds = sorted(s.kind.value for s in ok.pages[0].scripts)
    assert kinds == ["external", "inline"]


def codes(capture: Capture) -> set[str]:
    return {p.code for p in capture.problems}


def test_page_that_never_finishes_loading(hostile: HostileServer) -> None:
    capture, ok, elapsed = capture_then_ok(hostile, site_for(hostile, "/never-ends"))
    assert elapsed < JOURNEY_LIMIT
    assert capture.status is ScanStatus.PARTIAL
    assert "step-timeout" in codes(capture)
    assert capture.pages[0].final_url.endswith("/never-ends")
    assert_next_scan_works(ok)


def test_alert_loop(hostile: HostileServer) -> None:
    capture, ok, elapsed = capture_then_ok(hostile, site_for(hostile, "/alert-loop"))
    assert elapsed < JOURNEY_LIMIT + 10
    assert capture.status is ScanStatus.PARTIAL
    assert "dialog" in codes(capture)
    assert_next_scan_works(ok)


def test_redirect_loop(hostile: HostileServer) -> None:
    capture, ok, elapsed = capture_then_ok(hostile, site_for(hostile, "/redirect-loop"))
    assert elapsed < JOURNEY_LIMIT
    assert capture.status is ScanStatus.FAILED
    assert codes(capture) & {"navigation-error", "unreachable"}
    page = capture.pages[0]
    assert len(page.redirect_chain) >= 10
    assert any("ERR_TOO_MANY_REDIRECTS" in p for p in page.problems)
    assert_next_scan_works(ok)


def test_fifty_megabyte_script(hostile: HostileServer) -> None:
    capture, ok, elapsed = capture_then_ok(hostile, site_for(hostile, "/huge-script"))
    assert elapsed < JOURNEY_LIMIT + 10
    assert capture.status is ScanStatus.PARTIAL
    assert "script-too-large" in codes(capture)
    huge = [s for s in capture.pages[0].scripts if s.url and s.url.endswith("/huge.js")]
    assert len(huge) == 1 and huge[0].sha256 is None and huge[0].size > 50_000_000
    assert all(len(body) < 10_000_000 for body in capture.bodies.values())
    assert_next_scan_works(ok)


def test_page_that_closes_itself(hostile: HostileServer) -> None:
    site = site_for(hostile, "/self-close", [{"wait": 1}, {"click": "body"}])
    capture, ok, elapsed = capture_then_ok(hostile, site)
    assert elapsed < JOURNEY_LIMIT
    # Chromium refuses window.close() for a window no script opened: the page stays, garbage and all.
    assert capture.status in (ScanStatus.OK, ScanStatus.PARTIAL)
    assert capture.pages[0].name == "target"
    assert_next_scan_works(ok)


def test_renderer_crash(hostile: HostileServer) -> None:
    site = site_for(hostile, "/ok", [{"goto": "chrome://crash"}, {"click": "#ok"}])
    capture, ok, elapsed = capture_then_ok(hostile, site)
    assert elapsed < JOURNEY_LIMIT
    assert capture.status is ScanStatus.PARTIAL
    assert codes(capture) & {"crash", "navigation-error"}
    assert capture.pages[0].name == "target"
    assert_next_scan_works(ok)


def test_popups(hostile: HostileServer) -> None:
    capture, ok, elapsed = capture_then_ok(hostile, site_for(hostile, "/popups", [{"click": "body"}]))
    assert elapsed < JOURNEY_LIMIT
    assert capture.status is ScanStatus.PARTIAL
    assert "popup" in codes(capture)
    # The popups' own scripts are not the page's.
    assert all(s.kind is not ScriptKind.EXTERNAL for s in capture.pages[0].scripts)
    assert_next_scan_works(ok)


def test_busy_loop(hostile: HostileServer) -> None:
    capture, ok, elapsed = capture_then_ok(hostile, site_for(hostile, "/busy-loop", [{"click": "#built"}]))
    assert elapsed < JOURNEY_LIMIT + 35
    assert capture.status is ScanStatus.PARTIAL
    assert codes(capture) & {"step-timeout", "journey-timeout"}
    assert_next_scan_works(ok)


def test_unreachable_site(hostile: HostileServer) -> None:
    site = site_for(hostile, "/ok", base_url="http://nowhere.test/")
    capture, ok, _elapsed = capture_then_ok(hostile, site)
    assert capture.status is ScanStatus.FAILED
    assert "unreachable" in codes(capture)
    assert_next_scan_works(ok)
