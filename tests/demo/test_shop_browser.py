"""End-to-end: drive the demo journeys in real Chromium through every attack scenario."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

from skimguard.demo import DemoShop, Hit

CHROMIUM = "/usr/bin/chromium"
CARD = {"number": "4242424242424242", "expiry": "12/30", "cvc": "123", "name": "TARO YAMADA"}
CARD_LINE = "4242424242424242|12/30|123|TARO YAMADA"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")


@pytest.fixture()
def shop() -> Iterator[DemoShop]:
    with DemoShop() as s:
        yield s


def _launch_args(shop: DemoShop) -> list[str]:
    rules = ", ".join(f"MAP {host} {ip}" for host, ip in shop.hosts.items())
    return ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", f"--host-resolver-rules={rules}"]


async def _checkout(page: Page, shop: DemoShop) -> bool:
    """Walk the checkout journey; True when the thanks page was reached."""
    await page.goto(shop.url(path="/product/1"))
    await page.click("#add-to-cart")
    await page.wait_for_url("**/cart")
    await page.click("#checkout")
    await page.wait_for_url("**/checkout/address")
    for selector, value in {"#name": "山田 太郎", "#postal": "100-0001", "#address": "千代田1-1",
                            "#phone": "03-1234-5678", "#email": "taro@example.test"}.items():
        await page.fill(selector, value)
    await page.select_option("#prefecture", "東京都")
    await page.click("#to-payment")
    await page.wait_for_url("**/checkout/payment")
    for key, value in CARD.items():
        await page.locator(f"#card-{key}").press_sequentially(value, delay=5)
    await page.click("#pay")
    try:
        await page.wait_for_selector("#thanks", timeout=5000)
    except PlaywrightTimeout:
        return False
    return True


async def _register(page: Page, shop: DemoShop) -> bool:
    await page.goto(shop.url(path="/member/register"))
    for selector, value in {"#reg-name": "佐藤 花子", "#reg-address": "大阪市北区1-2-3",
                            "#reg-phone": "06-1234-5678", "#reg-email": "hanako@example.test",
                            "#reg-password": "Demo-Passw0rd!"}.items():
        await page.locator(selector).press_sequentially(value, delay=2)
    await page.click("#register")
    try:
        await page.wait_for_selector("#welcome", timeout=5000)
    except PlaywrightTimeout:
        return False
    return True


async def _wait_hits(shop: DemoShop, timeout: float = 3.0) -> list[Hit]:
    deadline = time.monotonic() + timeout
    while not shop.collected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # let any trailing beacon land
    return shop.collected


def _decoded(hit: Hit, param: str) -> str:
    value = parse_qs(hit.query)[param][0]
    return base64.b64decode(unquote(value)).decode()


async def _run_scenario(browser: Browser, shop: DemoShop, scenario: str) -> tuple[bool, bool, Page]:
    shop.set_scenario(scenario)
    context = await browser.new_context(locale="ja-JP")
    page = await context.new_page()
    reached_thanks = await _checkout(page, shop)
    registered = await _register(await context.new_page(), shop)
    return reached_thanks, registered, page


async def _all_scenarios(shop: DemoShop) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=_launch_args(shop))
        try:
            await _check_clean(browser, shop)
            await _check_vendor_tampered(browser, shop)
            await _check_fake_form(browser, shop)
            await _check_registration_tampered(browser, shop)
        finally:
            await browser.close()


async def _check_clean(browser: Browser, shop: DemoShop) -> None:
    thanks, welcome, _ = await _run_scenario(browser, shop, "clean")
    assert thanks and welcome
    await asyncio.sleep(0.3)
    assert shop.collected == []
    assert [t["last4"] for t in shop.tokens] == ["4242"]
    assert len(shop.orders) == 1


async def _check_vendor_tampered(browser: Browser, shop: DemoShop) -> None:
    thanks, _, _ = await _run_scenario(browser, shop, "vendor-script-tampered")
    assert thanks, "the skimmer must not break the checkout"
    hits = await _wait_hits(shop)
    assert hits and all(h.host == "collect.evil.test" and h.path == "/i.gif" for h in hits)
    assert CARD_LINE in [_decoded(h, "d") for h in hits]


async def _check_fake_form(browser: Browser, shop: DemoShop) -> None:
    before = len(shop.collected)
    thanks, _, page = await _run_scenario(browser, shop, "fake-payment-form")
    assert not thanks
    posts = [h for h in shop.collected[before:] if h.method == "POST" and h.path == "/pay"]
    assert len(posts) == 1
    form = parse_qs(posts[0].body.decode())
    assert form["card_number"][0].replace(" ", "") == CARD["number"]
    assert form["card_cvc"][0] == CARD["cvc"] and form["card_name"][0] == CARD["name"]
    assert page.url.endswith("/checkout/payment?retry=1")
    assert await page.locator("#retry-notice").is_visible()
    assert await page.locator("#card-number").is_visible()


async def _check_registration_tampered(browser: Browser, shop: DemoShop) -> None:
    before = len(shop.collected)
    _, welcome, _ = await _run_scenario(browser, shop, "registration-tampered")
    assert welcome, "the tampered registration still completes"
    beacons = [h for h in shop.collected[before:] if h.path == "/r.gif"]
    assert len(beacons) == 1
    data = json.loads(_decoded(beacons[0], "q"))
    assert data["m"] == "hanako@example.test" and data["p"] == "Demo-Passw0rd!"


def test_journeys_in_chromium(shop: DemoShop) -> None:
    asyncio.run(_all_scenarios(shop))
